"""Packed float32 chunks (VectorChunk): bytes worked out by hand, splitting at the size bound,
and each malformed chunk refused with a message that says what is wrong."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from annealpb.search.v1 import search_pb2
from services.common.vector_chunks import (
    MAX_CHUNK_BYTES,
    MAX_MESSAGE_BYTES,
    pack_chunks,
    unpack_chunk,
)

IDS = ["a", "b", "c"]
VECTORS = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 4.0]], dtype=np.float32)
META = [{"k": "A"}, {}, {"k": "C"}]


def test_a_chunk_is_rows_times_dim_little_endian_float32() -> None:
    (chunk,) = pack_chunks(IDS, VECTORS, META)
    assert list(chunk.image_ids) == IDS and chunk.dim == 2
    assert chunk.vectors == struct.pack("<6f", 1.0, -2.0, 0.5, 0.0, 3.0, 4.0)
    assert [dict(m.entries) for m in chunk.metadata] == META
    rows = unpack_chunk(chunk, "the chunk")
    assert rows.ids == IDS and rows.metadata == META
    assert rows.vectors.dtype == np.float32 and rows.vectors.tolist() == VECTORS.tolist()


def test_chunks_split_at_the_byte_bound_and_carry_no_metadata_unless_given() -> None:
    # 8 bytes per row (2 float32): a bound of 17 bytes holds 2 rows, then 1.
    chunks = list(pack_chunks(IDS, VECTORS, max_bytes=17))
    assert [list(c.image_ids) for c in chunks] == [["a", "b"], ["c"]]
    assert [len(c.vectors) for c in chunks] == [16, 8]
    assert all(not c.metadata for c in chunks)
    assert unpack_chunk(chunks[1], "x").metadata is None
    # The default bound: 2 MiB of 128-d rows is 4,096 rows per chunk.
    big = np.zeros((4097, 128), np.float32)
    sizes = [len(c.image_ids) for c in pack_chunks([str(i) for i in range(4097)], big)]
    assert sizes == [4096, 1] and MAX_CHUNK_BYTES == 4096 * 128 * 4


def test_long_ids_and_metadata_end_a_chunk_before_its_vectors_fill_it() -> None:
    # 1-d rows with 1,000-character ids: ids, not vectors, fill the 3 MiB message. Counted per
    # row: 4 (vector) + 1,000 + 4 (id) + 12 + 1 + 1 + 8 (metadata) = 1,030 bytes, and
    # 3,145,728 // 1,030 = 3,054 rows.
    ids = [f"{n:04d}" + "x" * 996 for n in range(4000)]
    chunks = list(pack_chunks(ids, np.ones((4000, 1), np.float32), [{"k": "v"}] * 4000))
    assert [len(c.image_ids) for c in chunks] == [3054, 946]
    assert all(c.ByteSize() < MAX_MESSAGE_BYTES for c in chunks)


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (
            search_pb2.VectorChunk(image_ids=["a", "b"], vectors=b"\0" * 12, dim=2),
            "the chunk holds 12 bytes of vectors; 2 image ids x dim 2 x 4 bytes (float32) = 16"
            " expected",
        ),
        (
            search_pb2.VectorChunk(image_ids=["a"], vectors=b"\0" * 8, dim=0),
            "the chunk has dim 0; set dim to the number of values per vector",
        ),
        (
            search_pb2.VectorChunk(
                image_ids=["a", "b"],
                vectors=b"\0" * 16,
                dim=2,
                metadata=[search_pb2.Metadata(entries={"k": "v"})],
            ),
            "the chunk has 1 metadata entries for 2 image ids; send one per image id or none",
        ),
        (
            search_pb2.VectorChunk(image_ids=["a"] * 4097, vectors=b"\0" * (4097 * 512), dim=128),
            f"the chunk holds {4097 * 512} bytes of vectors, over the limit of 2097152; split it"
            " into chunks of at most 4096 rows",
        ),
    ],
)
def test_malformed_chunks_are_refused(chunk: search_pb2.VectorChunk, message: str) -> None:
    with pytest.raises(ValueError) as info:
        unpack_chunk(chunk, "the chunk")
    assert str(info.value) == message
