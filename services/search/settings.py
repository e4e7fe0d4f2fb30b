"""The search service's settings: the common ones, the Milvus store and the index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from services.common.setting import Setting, count, number, positive
from services.common.settings import CommonSettings
from services.search.batcher import DEFAULT_BATCH_WAIT_S
from services.search.index_choice import (
    DEFAULT_ANN_MIN_ROWS,
    DEFAULT_ANN_TYPE,
    AnnChoice,
    ann_type,
)
from services.search.index_config import METRICS, IndexConfig
from services.search.milvus_settings import MilvusSettings, Params, json_object

DEFAULT_RETIRE_GRACE_S = 5.0

DEFAULT_RECALL_FLOOR = 0.95
DEFAULT_ROWS_IN_MEMORY_MIB = 256
MIB = 1024 * 1024


def fraction(value: str) -> float:
    """A number within 0..1."""
    parsed = number(value)
    if not 0.0 <= parsed <= 1.0:
        raise ValueError(f"expected a number within 0..1, got {parsed:g}")
    return parsed


def index_type(value: str) -> str:
    """A Milvus index type name (upper-cased), or empty for the choice by size."""
    name = value.strip().upper()
    if name and not name.replace("_", "").isalnum():
        raise ValueError("expected a Milvus index type such as FLAT, IVF_FLAT or HNSW, or empty")
    return name


INDEX_TYPE = Setting(
    "--index-type",
    "ANNEAL_INDEX_TYPE",
    "",
    "Milvus index type for every archive size (FLAT, IVF_FLAT, HNSW...); empty: by size"
    " (FLAT below ANNEAL_INDEX_ANN_MIN_ROWS rows, ANNEAL_INDEX_ANN_TYPE at or above)",
    index_type,
)


def metric_name(value: str) -> str:
    """One of Milvus's float-vector metrics (IndexConfig checks the same list), any case."""
    metric = value.strip().upper()
    if metric not in METRICS:
        raise ValueError(f"expected one of {', '.join(METRICS)}")
    return metric


INDEX_METRIC = Setting("--metric", "ANNEAL_INDEX_METRIC", "IP", "IP, COSINE or L2", metric_name)
INDEX_PARAMS: Setting[Params] = Setting(
    "--index-params", "ANNEAL_INDEX_PARAMS", {}, "JSON index build params", json_object
)
ANN_MIN_ROWS = Setting(
    "--ann-min-rows",
    "ANNEAL_INDEX_ANN_MIN_ROWS",
    DEFAULT_ANN_MIN_ROWS,
    "rows from which a version gets an ANN index instead of FLAT (with ANNEAL_INDEX_TYPE empty)",
    positive,
)
ANN_TYPE = Setting(
    "--ann-type",
    "ANNEAL_INDEX_ANN_TYPE",
    DEFAULT_ANN_TYPE,
    "ANN index of large archives: IVF_FLAT, IVF_SQ8 or HNSW (Milvus Lite and server alike)",
    ann_type,
)
ANN_BUILD_PARAMS: Setting[Params] = Setting(
    "--ann-build-params",
    "ANNEAL_INDEX_ANN_BUILD_PARAMS",
    {},
    'JSON build params of the ANN index ({}: IVF {"nlist": 1024}, HNSW {"M": 16,'
    ' "efConstruction": 200})',
    json_object,
)
ANN_SEARCH_PARAMS: Setting[Params] = Setting(
    "--ann-search-params",
    "ANNEAL_INDEX_ANN_SEARCH_PARAMS",
    {},
    'JSON search params of the ANN index ({}: IVF {"nprobe": 32}, HNSW {"ef": 64})',
    json_object,
)
RECALL_FLOOR = Setting(
    "--recall-floor",
    "ANNEAL_INDEX_RECALL_FLOOR",
    DEFAULT_RECALL_FLOOR,
    "least recall@20 against exact search an ANN build must reach, else it is refused",
    fraction,
)
ROWS_IN_MEMORY_MIB = Setting(
    "--rows-in-memory-mib",
    "ANNEAL_INDEX_ROWS_IN_MEMORY_MIB",
    DEFAULT_ROWS_IN_MEMORY_MIB,
    "largest version (float32 vectors, MiB) whose rows are also held in memory; beyond it ids"
    " and metadata are read from Milvus; 0: none held",
    count,
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


BUILD_STEP_TIMEOUT_S = Setting(
    "--build-step-timeout-s",
    "ANNEAL_BUILD_STEP_TIMEOUT_S",
    120,
    "longest wait for one Milvus call of an index build (insert, flush, index, load); raise it"
    " for archives of millions of images, whose index takes minutes to build",
    positive,
)


@dataclass(frozen=True, kw_only=True)
class SearchSettings(CommonSettings):
    service: ClassVar[str] = "search"

    milvus: MilvusSettings
    index_type: str = INDEX_TYPE.field()
    metric: str = INDEX_METRIC.field()
    index_params: Mapping[str, int | float | str] = INDEX_PARAMS.field()
    ann_min_rows: int = ANN_MIN_ROWS.field()
    ann_type: str = ANN_TYPE.field()
    ann_build_params: Mapping[str, int | float | str] = ANN_BUILD_PARAMS.field()
    ann_search_params: Mapping[str, int | float | str] = ANN_SEARCH_PARAMS.field()
    recall_floor: float = RECALL_FLOOR.field()
    rows_in_memory_mib: int = ROWS_IN_MEMORY_MIB.field()
    retire_grace: float = RETIRE_GRACE_S.field()
    batch_wait_ms: float = BATCH_WAIT_MS.field()
    build_step_timeout_s: float = BUILD_STEP_TIMEOUT_S.field()

    def index_config(self) -> IndexConfig:
        """How this service builds and searches index versions."""
        return IndexConfig(
            index_type=self.index_type,
            metric=self.metric.upper(),
            build_params=self.index_params,
            search_params=self.milvus.search_params,
            ann=AnnChoice(
                self.ann_min_rows, self.ann_type, self.ann_build_params, self.ann_search_params
            ),
            recall_floor=self.recall_floor,
            rows_in_memory_max_bytes=self.rows_in_memory_mib * MIB,
            retire_grace_s=0.0 if self.milvus.is_lite else self.retire_grace,
            milvus_timeout_s=self.build_step_timeout_s,
        )
