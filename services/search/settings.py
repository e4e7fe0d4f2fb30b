"""The search service's settings: the common ones, the Milvus store and the index."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from services.common.setting import Setting, number, text
from services.common.settings import MILVUS_URI, CommonSettings

Params = Mapping[str, int | float | str]


def _json_object(value: str) -> Params:
    try:
        parsed = json.loads(value or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValueError('expected a JSON object such as {"nprobe": 16}')
    return parsed


MILVUS_TOKEN_FILE = Setting(
    "--milvus-token-file",
    "ANNEAL_MILVUS_TOKEN_FILE",
    "",
    "file holding user:password for a Milvus server with authentication (empty: none)",
    text,
)
INDEX_TYPE = Setting(
    "--index-type", "ANNEAL_INDEX_TYPE", "FLAT", "Milvus index type (FLAT, IVF_FLAT...)", text
)
INDEX_METRIC = Setting("--metric", "ANNEAL_INDEX_METRIC", "IP", "IP, COSINE or L2", text)
INDEX_PARAMS: Setting[Params] = Setting(
    "--index-params", "ANNEAL_INDEX_PARAMS", {}, "JSON index build params", _json_object
)
SEARCH_PARAMS: Setting[Params] = Setting(
    "--search-params", "ANNEAL_SEARCH_PARAMS", {}, "JSON search params", _json_object
)
BATCH_WAIT_MS = Setting(
    "--batch-wait-ms",
    "ANNEAL_SEARCH_BATCH_WAIT_MS",
    0.0,
    "how long a search waits for others to share its Milvus call",
    number,
)


@dataclass(frozen=True, kw_only=True)
class SearchSettings(CommonSettings):
    service: ClassVar[str] = "search"

    milvus_uri: str = MILVUS_URI.field()
    milvus_token_file: str = MILVUS_TOKEN_FILE.field()
    index_type: str = INDEX_TYPE.field()
    metric: str = INDEX_METRIC.field()
    index_params: Mapping[str, int | float | str] = INDEX_PARAMS.field()
    search_params: Mapping[str, int | float | str] = SEARCH_PARAMS.field()
    batch_wait_ms: float = BATCH_WAIT_MS.field()
