"""Embeddings on the wire as packed float32 (``VectorChunk``), in bounded chunks.

A float list per image (``IndexItem.vector.values``) is built and read one Python float at a
time at both ends; a chunk is ``rows x dim`` little-endian float32 in one ``bytes`` field, so
packing is one ``tobytes`` and unpacking one ``frombuffer`` per chunk. Each chunk holds at most
:data:`MAX_CHUNK_BYTES` of vectors, so a message stays far below gRPC's limits whatever the
archive's size. Used by the coordinator (BuildIndex), the search service (BuildIndex in,
ExportVectors out) and selection (ExportVectors in).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from annealpb.search.v1 import search_pb2

MAX_CHUNK_BYTES = 2 * 1024 * 1024
"""Bytes of vectors in one chunk at most (2 MiB: 4,096 rows of 128 float32 values)."""
MAX_MESSAGE_BYTES = 3 * 1024 * 1024
"""What :func:`pack_chunks` puts in one chunk at most, vectors, ids and metadata together: below
the 4 MiB a gRPC client receives by default, so any channel reads an export."""
WIRE_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class ChunkRows:
    """The rows of one chunk: ``vectors[i]`` and ``metadata[i]`` belong to ``ids[i]``;
    ``metadata`` is None when the chunk carried none."""

    ids: list[str]
    vectors: np.ndarray
    metadata: list[dict[str, str]] | None


def pack_chunks(
    ids: Sequence[str],
    vectors: np.ndarray,
    metadata: Sequence[Mapping[str, str]] | None = None,
    max_bytes: int = MAX_CHUNK_BYTES,
) -> Iterator[search_pb2.VectorChunk]:
    """``ids`` with the rows of ``vectors`` (N, D) and their metadata, as chunks of at most
    ``max_bytes`` of vectors and :data:`MAX_MESSAGE_BYTES` in all (at least one row each)."""
    matrix = np.ascontiguousarray(vectors, dtype=WIRE_DTYPE)
    if matrix.ndim != 2 or matrix.shape[0] != len(ids):
        raise ValueError(f"{len(ids)} ids need an ({len(ids)}, dim) array, got {matrix.shape}")
    start = 0
    for end in _chunk_ends(ids, metadata, matrix.shape[1] * WIRE_DTYPE.itemsize, max_bytes):
        chunk = search_pb2.VectorChunk(
            image_ids=ids[start:end], vectors=matrix[start:end].tobytes(), dim=matrix.shape[1]
        )
        for entries in metadata[start:end] if metadata else ():
            chunk.metadata.add().entries.update(entries)  # 2.5x faster than Metadata(entries=)
        yield chunk
        start = end


def _chunk_ends(
    ids: Sequence[str],
    metadata: Sequence[Mapping[str, str]] | None,
    row_bytes: int,
    max_bytes: int,
) -> Iterator[int]:
    """Where each chunk ends: rows are added while the vectors fit ``max_bytes`` and vectors,
    ids and metadata (an upper bound of their encoded size) fit :data:`MAX_MESSAGE_BYTES`."""
    rows = vector_bytes = total = 0
    for index, image_id in enumerate(ids):
        size = row_bytes + len(image_id.encode()) + 4
        if metadata:
            size += 12 + sum(
                len(k.encode()) + len(v.encode()) + 8 for k, v in metadata[index].items()
            )
        if rows and (vector_bytes + row_bytes > max_bytes or total + size > MAX_MESSAGE_BYTES):
            yield index
            rows = vector_bytes = total = 0
        rows += 1
        vector_bytes += row_bytes
        total += size
    if rows:
        yield len(ids)


def unpack_chunk(chunk: search_pb2.VectorChunk, what: str) -> ChunkRows:
    """The rows of ``chunk``; ValueError, naming the chunk as ``what`` ("the chunk of message
    3"), when its bytes are not ``len(image_ids) x dim`` float32 values, it is over
    :data:`MAX_CHUNK_BYTES`, its dim is 0 or it has metadata for some rows only.

    The values are not checked here (finite, norm): a caller taking vectors from outside
    checks them with ``services.common.vector_checks.check_vectors``.
    """
    rows, size = len(chunk.image_ids), len(chunk.vectors)
    if chunk.dim == 0:
        raise ValueError(f"{what} has dim 0; set dim to the number of values per vector")
    if size > MAX_CHUNK_BYTES:
        raise ValueError(
            f"{what} holds {size} bytes of vectors, over the limit of {MAX_CHUNK_BYTES}; split it"
            f" into chunks of at most {MAX_CHUNK_BYTES // (chunk.dim * 4) or 1} rows"
        )
    expected = rows * chunk.dim * WIRE_DTYPE.itemsize
    if size != expected:
        raise ValueError(
            f"{what} holds {size} bytes of vectors; {rows} image ids x dim {chunk.dim} x 4 bytes"
            f" (float32) = {expected} expected"
        )
    if chunk.metadata and len(chunk.metadata) != rows:
        raise ValueError(
            f"{what} has {len(chunk.metadata)} metadata entries for {rows} image ids; send one"
            " per image id or none"
        )
    matrix = np.frombuffer(chunk.vectors, dtype=WIRE_DTYPE).reshape(rows, chunk.dim)
    return ChunkRows(
        list(chunk.image_ids),
        matrix.astype(np.float32, copy=False),
        [dict(m.entries) for m in chunk.metadata] if chunk.metadata else None,
    )
