"""Calls to the embedding service: a list of encoded images in, their vectors out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import grpc
import numpy as np

from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.common.errors import UnavailableError
from services.retrieval.downstream import downstream_error

CHUNK_BYTES = 1 << 20


class ModelNotLoadedError(UnavailableError):
    """The embedding service does not hold the model version asked for (yet, or any more)."""


def _requests(
    images: Sequence[tuple[str, bytes]], model_version: str
) -> Iterator[embedding_pb2.EmbedImagesRequest]:
    yield embedding_pb2.EmbedImagesRequest(
        options=embedding_pb2.EmbedOptions(model_version=model_version)
    )
    for image_id, data in images:
        for start in range(0, len(data), CHUNK_BYTES):
            yield embedding_pb2.EmbedImagesRequest(
                chunk=embedding_pb2.ImageChunk(
                    image_id=image_id,
                    data=data[start : start + CHUNK_BYTES],
                    last=start + CHUNK_BYTES >= len(data),
                )
            )


class EmbeddingClient:
    """Embeds query images with a named model version."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)

    def embed(
        self, images: Sequence[tuple[str, bytes]], model_version: str, timeout_s: float | None
    ) -> tuple[np.ndarray, str]:
        """Vectors of ``(id, bytes)`` images in order, and the model version that made them.

        An undecodable or oversized image keeps its code (INVALID_ARGUMENT, RESOURCE_EXHAUSTED);
        a model version the embedding service has not loaded is UNAVAILABLE: the system is
        between a model and its index, not the query's fault.
        """
        try:
            responses = list(
                self._stub.EmbedImages(_requests(images, model_version), timeout=timeout_s)
            )
        except grpc.RpcError as exc:
            raise downstream_error(
                exc, "embedding service", {grpc.StatusCode.NOT_FOUND: ModelNotLoadedError}
            ) from exc
        embeddings = [e for response in responses for e in response.embeddings]
        if [e.image_id for e in embeddings] != [image_id for image_id, _ in images]:
            raise RuntimeError("the embedding service answered for other images than were sent")
        vectors = np.array([e.vector for e in embeddings], dtype=np.float32)
        return vectors, responses[0].model_version if responses else model_version
