"""``python -m services.selection``: the pair selection service (settings: docs/architecture.md).

It reads the archive's image ids from ``ANNEAL_ARCHIVE`` (again whenever the index grows), an
index version's embeddings from the coordinator's files under ``ANNEAL_EMBEDDINGS_DIR`` (or, for
a version without them, from the search service at ``ANNEAL_SEARCH_ADDR``), registers rounds
with the label service (``ANNEAL_LABELS_ADDR``) and keeps each round's pairs under
``ANNEAL_STATE_DIR/selection``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from anneal.data.archive import image_ids
from services.common.catalog import SERVICES
from services.common.embedding_files import EmbeddingFiles
from services.common.priority import lower_priority
from services.common.runner import run_service
from services.common.settings import embeddings_folder
from services.selection.label_client import LabelClient
from services.selection.round_store import RoundStore
from services.selection.rounds import SelectionRounds
from services.selection.server import create_server
from services.selection.settings import SelectionSettings
from services.selection.vector_source import (
    FallbackVectors,
    FileVectors,
    SearchServiceVectors,
)


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["selection"]
    settings = SelectionSettings.read(argv)
    if not settings.archive:
        raise SystemExit("selection needs the archive folder: set --archive or ANNEAL_ARCHIVE")
    lower_priority()  # scoring candidate pairs must not starve the query path of CPU
    image_ids(settings.archive)  # fail at start on an unusable folder
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    search = calls.channel(settings.search_addr)
    labels = calls.channel(settings.labels_addr)
    files = EmbeddingFiles(embeddings_folder(settings.embeddings_dir, settings.state_dir))

    def archive_ids() -> list[str]:  # scanned at every read of a version: images are added
        return image_ids(settings.archive)

    vectors = FallbackVectors(
        FileVectors(files, archive_ids), SearchServiceVectors(search, archive_ids)
    )
    rounds = SelectionRounds(
        RoundStore(Path(settings.state_dir) / "selection"),
        vectors,
        LabelClient(labels),
    )
    try:
        run_service(
            spec,
            settings,
            lambda address, security: create_server(address, rounds, security=security),
        )
    finally:
        search.close()
        labels.close()


if __name__ == "__main__":
    main(sys.argv[1:])
