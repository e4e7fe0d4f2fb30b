"""One checked query of a Retrieve or RetrieveBatch call: what to search with and how many hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annealpb.retrieval.v1 import retrieval_pb2
from services.common.vector_checks import check_vectors

MAX_K = 1000
MAX_BATCH = 1000


@dataclass(frozen=True)
class Query:
    """One of ``image``, ``image_id`` and ``vector`` is set; ``label`` names the query in errors."""

    label: str
    k: int
    image: bytes | None = None
    image_id: str | None = None
    vector: np.ndarray | None = None
    exclude_query_image: bool = False

    @property
    def search_k(self) -> int:
        """Hits to ask the index for: one more when the query image is left out of its hits."""
        return min(self.k + 1, MAX_K) if self.excludes_self else self.k

    @property
    def excludes_self(self) -> bool:
        return self.exclude_query_image and self.image_id is not None

    @classmethod
    def parse(cls, request: retrieval_pb2.RetrieveRequest, label: str) -> Query:
        """Checks one request; ValueError (INVALID_ARGUMENT) says what is wrong with it."""
        if not 1 <= request.k <= MAX_K:
            raise ValueError(f"{label}: k must be between 1 and {MAX_K}, got {request.k}")
        which = request.query.WhichOneof("query")
        if which == "image":
            if not request.query.image:
                raise ValueError(f"{label}: the image is empty; send JPEG, PNG or TIFF bytes")
            return cls(label, request.k, image=request.query.image)
        if which == "image_id":
            if not request.query.image_id:
                raise ValueError(f"{label}: image_id is empty")
            return cls(
                label,
                request.k,
                image_id=request.query.image_id,
                exclude_query_image=request.exclude_query_image,
            )
        if which == "vector":
            vector = np.array(request.query.vector.values, dtype=np.float32)
            if not vector.size:
                raise ValueError(f"{label}: the vector is empty")
            check_vectors(vector[None, :], lambda _row: f"{label}: the vector")
            return cls(label, request.k, vector=vector)
        raise ValueError(f"{label}: no query; set one of image, image_id or vector")


def parse_batch(requests: Sequence[retrieval_pb2.RetrieveRequest]) -> list[Query]:
    """Checks the requests of a RetrieveBatch call; errors name the query's position."""
    if not 1 <= len(requests) <= MAX_BATCH:
        raise ValueError(f"send 1 to {MAX_BATCH} queries per batch, got {len(requests)}")
    return [Query.parse(request, f"query {i}") for i, request in enumerate(requests)]
