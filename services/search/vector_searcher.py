"""The query path's one call into Milvus: top-k of some vectors on one collection.

Two kinds, injected into the index manager: :class:`ClientSearcher` goes through a pymilvus
client (a Milvus server, or any client the tests wrap with faults); :class:`LiteSearcher` calls
the Milvus Lite engine that runs inside this process directly. pymilvus would reach that engine
through Milvus Lite's own gRPC adapter on loopback, a second Python gRPC server in this process
that costs about 2 ms of CPU per search (measured: docs/BENCHMARKS.md, issue 11); building,
swapping and exports still go through pymilvus, which Milvus Lite fully supports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import numpy as np
from milvus_lite import MilvusLite, MilvusLiteError
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from services.search.collection_layout import ID_FIELD, METADATA_FIELD
from services.search.errors import BackendUnavailableError


@dataclass(frozen=True)
class RawHit:
    """A neighbour as Milvus gives it: the id, the metric's distance, the stored metadata if
    asked for (None otherwise)."""

    image_id: str
    distance: float
    metadata: Mapping[str, str] | None


class VectorSearcher(Protocol):
    """``search(collection, queries, k, metric, params, with_metadata, timeout_s)``: one row of
    hits per query; a search that takes longer than ``timeout_s`` fails (where it can)."""

    def search(
        self,
        collection: str,
        queries: np.ndarray,
        k: int,
        metric: str,
        params: Mapping[str, Any],
        with_metadata: bool,
        timeout_s: float,
    ) -> list[list[RawHit]]: ...


class ClientSearcher:
    """Searches through a pymilvus client."""

    def __init__(self, client: MilvusClient) -> None:
        self._client = client

    def search(
        self,
        collection: str,
        queries: np.ndarray,
        k: int,
        metric: str,
        params: Mapping[str, Any],
        with_metadata: bool,
        timeout_s: float,
    ) -> list[list[RawHit]]:
        try:
            found = self._client.search(
                collection,
                data=list(queries),
                limit=k,
                # [] would return every field, the vectors too (slow); the id comes anyway.
                output_fields=[METADATA_FIELD] if with_metadata else [ID_FIELD],
                search_params={"metric_type": metric, "params": dict(params)},
                timeout=timeout_s,
            )
        except MilvusException as exc:
            raise BackendUnavailableError(f"Milvus search failed: {exc}") from exc
        except grpc.RpcError as exc:  # pymilvus passes some failures through as gRPC's own
            timed_out = (
                isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            )
            raise BackendUnavailableError(
                f"Milvus did not answer the search within {timeout_s:g} s; retry"
                if timed_out
                else "Milvus could not be reached for the search; retry"
            ) from exc
        return [
            [
                RawHit(
                    str(h.id),
                    float(h.distance),
                    h["entity"][METADATA_FIELD] if with_metadata else None,
                )
                for h in row
            ]
            for row in found
        ]


class LiteSearcher:
    """Searches the in-process Milvus Lite engine (``milvus_lite.MilvusLite``) directly."""

    def __init__(self, database: MilvusLite) -> None:
        self._database = database

    def search(
        self,
        collection: str,
        queries: np.ndarray,
        k: int,
        metric: str,
        params: Mapping[str, Any],
        with_metadata: bool,
        timeout_s: float,
    ) -> list[list[RawHit]]:
        # In this process: nothing can hang apart from this process itself, no timeout needed.
        try:
            found = self._database.get_collection(collection).search(
                [row.tolist() for row in queries],
                top_k=k,
                metric_type=metric,
                output_fields=[METADATA_FIELD] if with_metadata else [ID_FIELD],
                search_params=dict(params),
            )
        except MilvusLiteError as exc:
            raise BackendUnavailableError(f"Milvus Lite search failed: {exc}") from exc
        return [[_lite_hit(h, with_metadata) for h in row] for row in found]


def _lite_hit(hit: Mapping[str, Any], with_metadata: bool) -> RawHit:
    metadata = hit["entity"].get(METADATA_FIELD) if with_metadata else None
    if isinstance(metadata, str | bytes):
        metadata = json.loads(metadata)  # the engine keeps JSON fields as their text
    return RawHit(str(hit["id"]), float(hit["distance"]), metadata)
