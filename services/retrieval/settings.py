"""The retrieval service's settings: the common ones, the services it calls, and the Milvus
server it may read directly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from services.common.setting import Setting, number
from services.common.settings import ADDRESSES, MILVUS_URI, CommonSettings
from services.retrieval.direct_index import DEFAULT_REFRESH_S
from services.retrieval.server import DEFAULT_CALL_TIMEOUT_S
from services.search.milvus_settings import MilvusSettings

CALL_TIMEOUT_S = Setting(
    "--call-timeout",
    "ANNEAL_CALL_TIMEOUT_S",
    DEFAULT_CALL_TIMEOUT_S,
    "longest downstream call, in seconds (when the caller's deadline allows more)",
    number,
)
INDEX_REFRESH_S = Setting(
    "--index-refresh",
    "ANNEAL_INDEX_REFRESH_S",
    DEFAULT_REFRESH_S,
    "with a Milvus server URI: how often to look for a newly swapped index, in seconds",
    number,
)


@dataclass(frozen=True, kw_only=True)
class RetrievalSettings(CommonSettings):
    service: ClassVar[str] = "retrieval"
    own_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({MILVUS_URI.env: ""})
    """No Milvus URI by default: queries go through the search service."""

    embedding_addr: str = ADDRESSES["embedding"].field()
    search_addr: str = ADDRESSES["search"].field()
    call_timeout: float = CALL_TIMEOUT_S.field()
    milvus: MilvusSettings
    index_refresh: float = INDEX_REFRESH_S.field()
