"""The serving index through the search service (an IndexAccess), with downstream errors turned
into the project's exceptions."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.shown import shown
from services.retrieval.downstream import downstream_error, status_of
from services.search.search_result import Hit, SearchResult


class SearchClient:
    """The SearchService methods retrieval needs."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = search_pb2_grpc.SearchServiceStub(channel)

    def close(self) -> None:
        """Nothing to release: the channel is the caller's to close."""

    def serving_model(self, timeout_s: float | None) -> str | None:
        try:
            info = self._stub.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise downstream_error(exc, "search service GetIndexInfo") from exc
        return info.model_version if info.has_index else None

    def search(
        self,
        vectors: np.ndarray | None,
        image_ids: Sequence[tuple[str, str]],
        k: int,
        timeout_s: float | None,
    ) -> SearchResult:
        """One Search call: the rows of ``vectors``, then the archive images of ``image_ids``.

        ``image_ids`` are ``(label, image id)`` pairs; the search service reads their stored
        vectors from the version it searches. A NOT_FOUND names the query (its label) whose
        image the index does not hold.
        """
        rows = [] if vectors is None else vectors.tolist()
        request = search_pb2.SearchRequest(
            vectors=[search_pb2.Vector(values=row) for row in rows],
            k=k,
            image_ids=[image_id for _, image_id in image_ids],
        )
        try:
            reply = self._stub.Search(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise downstream_error(exc, _which_failed(exc, image_ids)) from exc
        hits = [[Hit(h.image_id, h.score, h.metadata) for h in row.hits] for row in reply.results]
        return SearchResult(reply.index_version, reply.model_version, hits)


def _which_failed(exc: grpc.RpcError, image_ids: Sequence[tuple[str, str]]) -> str:
    """The query a NOT_FOUND is about: the first whose image id the error message names."""
    if status_of(exc) == grpc.StatusCode.NOT_FOUND and isinstance(exc, grpc.Call):
        details = exc.details() or ""
        for label, image_id in image_ids:
            if shown(image_id) in details:
                return f"{label}: archive image {shown(image_id)}"
    return "search service Search"
