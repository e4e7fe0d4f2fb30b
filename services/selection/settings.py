"""The selection service's settings: the common ones, its state, the archive and its peers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import (
    ADDRESSES,
    ARCHIVE,
    EMBEDDINGS_DIR,
    STATE_DIR,
    CommonSettings,
)


@dataclass(frozen=True, kw_only=True)
class SelectionSettings(CommonSettings):
    service: ClassVar[str] = "selection"

    state_dir: str = STATE_DIR.but("folder of round state (under <dir>/selection)").field()
    embeddings_dir: str = EMBEDDINGS_DIR.but(
        "folder of the coordinator's index-version embeddings, read in place (empty:"
        " <state dir>/coordinator/embeddings; absent files are exported from search)"
    ).field()
    archive: str = ARCHIVE.but("archive folder (its image ids)").field()
    search_addr: str = ADDRESSES["search"].field()
    labels_addr: str = ADDRESSES["labels"].field()
