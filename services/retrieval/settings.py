"""The retrieval service's settings: the common ones and the services it calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.setting import Setting, number
from services.common.settings import ADDRESSES, CommonSettings
from services.retrieval.server import DEFAULT_CALL_TIMEOUT_S

CALL_TIMEOUT_S = Setting(
    "--call-timeout",
    "ANNEAL_CALL_TIMEOUT_S",
    DEFAULT_CALL_TIMEOUT_S,
    "longest downstream call, in seconds (when the caller's deadline allows more)",
    number,
)


@dataclass(frozen=True, kw_only=True)
class RetrievalSettings(CommonSettings):
    service: ClassVar[str] = "retrieval"

    embedding_addr: str = ADDRESSES["embedding"].field()
    search_addr: str = ADDRESSES["search"].field()
    call_timeout: float = CALL_TIMEOUT_S.field()
