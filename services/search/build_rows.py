"""The rows of a BuildIndex (or AddToIndex) stream, from its messages' items and packed chunks.

Items (a float list per image) are stacked as before; each chunk's size is checked as it
arrives and its rows kept as the array they arrived as. All rows must have one dimension. The
build checks the rows' values (finite, bounded norm), ids and metadata together, whichever form
they came in (index_builder.check_build_input).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from annealpb.search.v1 import search_pb2
from services.common.vector_chunks import unpack_chunk


def vectors_matrix(vectors: Sequence[search_pb2.Vector], what: str) -> np.ndarray:
    """Stack vector messages into a float32 (N, D) array; all must have the same length."""
    if not vectors:
        raise ValueError(f"no {what} given")
    dim = len(vectors[0].values)
    if not dim:
        raise ValueError(f"{what} 0 is empty")
    for position, vector in enumerate(vectors):
        if len(vector.values) != dim:
            raise ValueError(
                f"{what} {position} has {len(vector.values)} values, {what} 0 has {dim};"
                " all must have the index's dimension"
            )
    return np.array([vector.values for vector in vectors], dtype=np.float32)


class BuildRows:
    """Collects (image id, vector, metadata) rows message by message; :meth:`rows` stacks them."""

    def __init__(self) -> None:
        self._items: list[search_pb2.IndexItem] = []
        self._ids: list[str] = []
        self._blocks: list[np.ndarray] = []
        self._metadata: list[dict[str, str]] = []

    def __len__(self) -> int:
        return len(self._items) + len(self._ids)

    def add(self, message: search_pb2.BuildIndexRequest, position: int) -> None:
        """The items and the chunk of the stream's message number ``position``."""
        self._items.extend(message.items)
        if message.HasField("chunk"):
            self.add_chunk(message.chunk, f"the chunk of message {position}")

    def add_chunk(self, message: search_pb2.VectorChunk, what: str) -> None:
        """The rows of one packed chunk (``what`` names it in errors)."""
        chunk = unpack_chunk(message, what)
        if self._blocks and chunk.vectors.shape[1] != self._blocks[0].shape[1]:
            raise ValueError(
                f"{what} has dim {chunk.vectors.shape[1]}, the first chunk"
                f" {self._blocks[0].shape[1]}; all rows must have the index's dimension"
            )
        self._ids.extend(chunk.ids)
        self._blocks.append(chunk.vectors)
        self._metadata.extend(chunk.metadata or ({} for _ in chunk.ids))

    def rows(self) -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
        """Ids, the (N, D) float32 vectors and metadata of every row: items first, then the
        chunks in stream order. ValueError when there are none or their dimensions differ."""
        if not self._blocks:
            vectors = vectors_matrix([item.vector for item in self._items], "item")
            return (
                [item.image_id for item in self._items],
                vectors,
                [dict(item.metadata) for item in self._items],
            )
        blocks = list(self._blocks)
        ids = [item.image_id for item in self._items] + self._ids
        metadata = [dict(item.metadata) for item in self._items] + self._metadata
        if self._items:
            items = vectors_matrix([item.vector for item in self._items], "item")
            if items.shape[1] != blocks[0].shape[1]:
                raise ValueError(
                    f"items have {items.shape[1]} values, chunks dim {blocks[0].shape[1]};"
                    " all rows must have the index's dimension"
                )
            blocks.insert(0, items)
        return ids, np.concatenate(blocks), metadata
