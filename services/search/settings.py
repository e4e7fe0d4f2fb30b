"""The search service's settings: the common ones, the Milvus store and the index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from services.common.setting import Setting, number, text
from services.common.settings import CommonSettings
from services.search.batcher import DEFAULT_BATCH_WAIT_S
from services.search.milvus_settings import MilvusSettings, Params, json_object

DEFAULT_RETIRE_GRACE_S = 5.0

INDEX_TYPE = Setting(
    "--index-type", "ANNEAL_INDEX_TYPE", "FLAT", "Milvus index type (FLAT, IVF_FLAT...)", text
)
INDEX_METRIC = Setting("--metric", "ANNEAL_INDEX_METRIC", "IP", "IP, COSINE or L2", text)
INDEX_PARAMS: Setting[Params] = Setting(
    "--index-params", "ANNEAL_INDEX_PARAMS", {}, "JSON index build params", json_object
)
RETIRE_GRACE_S = Setting(
    "--retire-grace",
    "ANNEAL_INDEX_RETIRE_GRACE_S",
    DEFAULT_RETIRE_GRACE_S,
    "seconds a retired version stays after its queries here drained, for retrieval reading"
    " a Milvus server directly (above its ANNEAL_INDEX_REFRESH_S); 0 with Milvus Lite",
    number,
)
BATCH_WAIT_MS = Setting(
    "--batch-wait-ms",
    "ANNEAL_SEARCH_BATCH_WAIT_MS",
    DEFAULT_BATCH_WAIT_S * 1000,
    "how long a search waits for others to share its Milvus call, while searches come"
    " concurrently (a lone one never waits)",
    number,
)


@dataclass(frozen=True, kw_only=True)
class SearchSettings(CommonSettings):
    service: ClassVar[str] = "search"

    milvus: MilvusSettings
    index_type: str = INDEX_TYPE.field()
    metric: str = INDEX_METRIC.field()
    index_params: Mapping[str, int | float | str] = INDEX_PARAMS.field()
    retire_grace: float = RETIRE_GRACE_S.field()
    batch_wait_ms: float = BATCH_WAIT_MS.field()
