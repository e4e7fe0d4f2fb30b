"""One built index version: the Milvus collection that holds it and what it was built with,
and reading that description (and its row count) back from Milvus."""

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pymilvus import MilvusClient

from services.search.collection_layout import (
    MODEL_VERSION_PROPERTY,
    SEARCH_PARAMS_PROPERTY,
    VECTOR_FIELD,
)
from services.search.milvus_settings import Params


@dataclass(frozen=True)
class IndexVersion:
    """A loaded, verified collection that can serve queries."""

    version: int
    collection: str
    dim: int
    count: int
    model_version: str
    index_type: str
    metric: str
    search_params: Params | None = None
    """What every search of this version passes to Milvus; None (a collection built before
    versions kept them): the reader's IndexConfig.search_params."""
    recall: float | None = None
    """recall@k against exact search measured at its build (1.0 for FLAT); None when read
    back from Milvus."""


def describe_version(client: MilvusClient, version: int, name: str) -> IndexVersion:
    """Version ``version`` as stored in collection ``name`` (e.g. the serving one at a restart)."""
    schema = client.describe_collection(name)
    vector_field = next(f for f in schema["fields"] if f["name"] == VECTOR_FIELD)
    index = client.describe_index(name, client.list_indexes(name)[0])
    properties: Mapping[str, str] = schema.get("properties", {})
    stored_params = properties.get(SEARCH_PARAMS_PROPERTY)
    return IndexVersion(
        version=version,
        collection=name,
        dim=int(vector_field["params"]["dim"]),
        count=count_rows(client, name),
        model_version=str(properties.get(MODEL_VERSION_PROPERTY, "")),
        index_type=str(index["index_type"]),
        metric=str(index["metric_type"]),
        search_params=json.loads(stored_params) if stored_params else None,
    )


def count_rows(client: MilvusClient, name: str) -> int:
    """The rows collection ``name`` holds (it grows when rows are added to its version)."""
    rows = client.query(name, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"])
