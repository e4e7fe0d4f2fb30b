"""Search test helpers: hand-made vectors whose answers are worked out by hand, request builders."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from annealpb.search.v1 import search_pb2

# Six unit vectors in 4-D. For the query Q = (0.6, 0.8, 0, 0) the inner products are
# b 0.96, c 0.8, a 0.6, and 0 for d, e, f; squared L2 distances b 0.08, c 0.4, a 0.8.
IDS = ["a", "b", "c", "d", "e", "f"]
VECTORS = np.array(
    [
        [1, 0, 0, 0],
        [0.8, 0.6, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0.6, 0.8],
        [0, 0, 0, 1],
    ],
    dtype=np.float32,
)
META = [{"name": i.upper()} for i in IDS]
Q = np.array([[0.6, 0.8, 0, 0]], dtype=np.float32)


def build_stream(
    version: int,
    ids: Sequence[str],
    vectors: np.ndarray,
    metadata: Sequence[Mapping[str, str]] | None = None,
    model_version: str = "",
    swap: bool = False,
    batch: int = 2,
) -> Iterator[search_pb2.BuildIndexRequest]:
    """A BuildIndex request stream: options first, then items in batches of ``batch``."""
    options = search_pb2.BuildOptions(version=version, model_version=model_version, swap=swap)
    items = [
        search_pb2.IndexItem(
            image_id=image_id,
            vector=search_pb2.Vector(values=vector.tolist()),
            metadata=metadata[i] if metadata else {},
        )
        for i, (image_id, vector) in enumerate(zip(ids, vectors, strict=True))
    ]
    yield search_pb2.BuildIndexRequest(options=options, items=items[:batch])
    for start in range(batch, len(items), batch):
        yield search_pb2.BuildIndexRequest(items=items[start : start + batch])


def search_request(vectors: np.ndarray, k: int) -> search_pb2.SearchRequest:
    return search_pb2.SearchRequest(
        vectors=[search_pb2.Vector(values=v.tolist()) for v in np.atleast_2d(vectors)], k=k
    )
