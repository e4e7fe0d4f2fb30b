"""Calls to the search service, with downstream errors turned into the project's exceptions."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.errors import NotFoundError
from services.retrieval.downstream import downstream_error


class SearchClient:
    """The SearchService methods retrieval needs."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = search_pb2_grpc.SearchServiceStub(channel)

    def index_info(self, timeout_s: float | None) -> search_pb2.GetIndexInfoResponse:
        try:
            return self._stub.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise downstream_error(exc, "search service GetIndexInfo") from exc

    def search(
        self, vectors: np.ndarray, k: int, timeout_s: float | None
    ) -> search_pb2.SearchResponse:
        request = search_pb2.SearchRequest(
            vectors=[search_pb2.Vector(values=vector.tolist()) for vector in vectors], k=k
        )
        try:
            return self._stub.Search(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise downstream_error(exc, "search service Search") from exc

    def get_vectors(
        self, image_ids: Sequence[tuple[str, str]], timeout_s: float | None
    ) -> list[search_pb2.GetVectorResponse]:
        """Stored vectors of ``(label, image id)`` pairs, looked up concurrently, in order."""
        futures = [
            self._stub.GetVector.future(
                search_pb2.GetVectorRequest(image_id=image_id), timeout=timeout_s
            )
            for _, image_id in image_ids
        ]
        replies = []
        for (label, image_id), future in zip(image_ids, futures, strict=True):
            try:
                replies.append(future.result())
            except grpc.RpcError as exc:
                for pending in futures:
                    pending.cancel()
                raise downstream_error(
                    exc,
                    f"{label}: archive image {image_id!r}",
                    {grpc.StatusCode.NOT_FOUND: NotFoundError},
                ) from exc
        return replies
