"""Packed float32 chunks through a real search service on Milvus Lite: a build from chunks
equals the build from per-item float lists (export, search answers, metadata), a packed export
equals the per-item one, and a malformed chunk is refused with INVALID_ARGUMENT and a message
that says what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from search_helpers import IDS, META, VECTORS, Q, build_stream, search_request

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.vector_chunks import pack_chunks, unpack_chunk
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.server import create_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration


@pytest.fixture
def stub(serve, tmp_path: Path) -> Iterator[search_pb2_grpc.SearchServiceStub]:
    manager = IndexManager.open(str(tmp_path / "milvus.db"), IndexConfig())
    yield search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=ServerSecurity.insecure()))
    )
    manager.close(timeout_s=5)


def packed_stream(
    version: int, chunks: list[search_pb2.VectorChunk], swap: bool = False
) -> Iterator[search_pb2.BuildIndexRequest]:
    yield search_pb2.BuildIndexRequest(
        options=search_pb2.BuildOptions(version=version, model_version="m", swap=swap)
    )
    for chunk in chunks:
        yield search_pb2.BuildIndexRequest(chunk=chunk)


def exported(stub, version: int, packed: bool) -> dict[str, tuple[list[float], dict[str, str]]]:
    """image id -> (vector, metadata) of an export, in either form."""
    request = search_pb2.ExportVectorsRequest(
        version=version, batch_size=4, include_metadata=True, packed=packed
    )
    out: dict[str, tuple[list[float], dict[str, str]]] = {}
    for reply in stub.ExportVectors(request):
        if packed:
            assert not reply.items
            rows = unpack_chunk(reply.chunk, "reply")
            assert rows.metadata is not None
            out.update(
                zip(rows.ids, zip(rows.vectors.tolist(), rows.metadata, strict=True), strict=True)
            )
        else:
            out.update((i.image_id, (list(i.vector.values), dict(i.metadata))) for i in reply.items)
    return out


def hits(stub) -> list[tuple[str, float, dict[str, str]]]:
    (result,) = stub.Search(search_request(Q, k=3)).results
    return [(h.image_id, round(h.score, 5), dict(h.metadata)) for h in result.hits]


def test_packed_build_and_export_equal_the_per_item_path(
    stub: search_pb2_grpc.SearchServiceStub,
) -> None:
    stub.BuildIndex(build_stream(1, IDS, VECTORS, META, model_version="m", swap=True))
    per_item_hits = hits(stub)
    # Q = (0.6, 0.8, 0, 0): inner products b 0.96, c 0.8, a 0.6.
    assert per_item_hits == [
        ("b", 0.96, {"name": "B"}),
        ("c", 0.8, {"name": "C"}),
        ("a", 0.6, {"name": "A"}),
    ]
    # Chunks of 2 rows (32 bytes of 4-d float32); version 2 built, not yet swapped in.
    reply = stub.BuildIndex(packed_stream(2, list(pack_chunks(IDS, VECTORS, META, 32))))
    assert (reply.version, reply.count, reply.dim) == (2, 6, 4)
    by_items = exported(stub, 1, packed=False)
    assert by_items["e"] == (pytest.approx([0, 0, 0.6, 0.8]), {"name": "E"})
    assert exported(stub, 1, packed=True) == by_items
    assert exported(stub, 2, packed=True) == by_items == exported(stub, 2, packed=False)
    stub.SwapIndex(search_pb2.SwapIndexRequest(version=2))
    assert hits(stub) == per_item_hits


def test_packed_export_splits_a_batch_over_2_mib(stub: search_pb2_grpc.SearchServiceStub) -> None:
    # 4,100 rows of 512 float32 (2 KiB each): a batch of 4,100 is 8.0 MiB -> 4 x 1,024 + 4.
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4100, 512)).astype(np.float32)
    ids = [f"i{n}" for n in range(4100)]
    stub.BuildIndex(packed_stream(1, list(pack_chunks(ids, vectors)), swap=True))
    request = search_pb2.ExportVectorsRequest(batch_size=4100, packed=True)
    replies = list(stub.ExportVectors(request))
    assert [len(r.chunk.image_ids) for r in replies] == [1024, 1024, 1024, 1024, 4]
    rows = {
        i: v
        for r in replies
        for i, v in zip(r.chunk.image_ids, unpack_chunk(r.chunk, "r").vectors, strict=True)
    }
    assert np.array_equal(np.stack([rows[i] for i in ids]), vectors)


def chunk(ids: list[str], values: list[float], dim: int) -> search_pb2.VectorChunk:
    return search_pb2.VectorChunk(
        image_ids=ids, vectors=np.asarray(values, "<f4").tobytes(), dim=dim
    )


ITEM = search_pb2.IndexItem(image_id="x", vector=search_pb2.Vector(values=[1, 0, 0]))
BAD: list[tuple[str, list[search_pb2.BuildIndexRequest], str]] = [
    (
        "short bytes",
        [search_pb2.BuildIndexRequest(chunk=chunk(["a", "b"], [1, 0, 0, 1, 0], 3))],
        "the chunk of message 1 holds 20 bytes of vectors; 2 image ids x dim 3 x 4 bytes"
        " (float32) = 24 expected",
    ),
    (
        "dim 0",
        [search_pb2.BuildIndexRequest(chunk=chunk(["a"], [], 0))],
        "the chunk of message 1 has dim 0",
    ),
    (
        "dims differ between chunks",
        [
            search_pb2.BuildIndexRequest(chunk=chunk(["a"], [1, 0], 2)),
            search_pb2.BuildIndexRequest(chunk=chunk(["b"], [1, 0, 0], 3)),
        ],
        "the chunk of message 2 has dim 3, the first chunk 2; all rows must have the index's"
        " dimension",
    ),
    (
        "items and chunks differ",
        [search_pb2.BuildIndexRequest(items=[ITEM], chunk=chunk(["a"], [1, 0], 2))],
        "items have 3 values, chunks dim 2",
    ),
    (
        "NaN",
        [search_pb2.BuildIndexRequest(chunk=chunk(["a", "b"], [1, 0, float("nan"), 1], 2))],
        "vector of image 'b' holds NaN or infinity; send finite values",
    ),
    (
        "infinity",
        [search_pb2.BuildIndexRequest(chunk=chunk(["a"], [float("inf"), 0], 2))],
        "vector of image 'a' holds NaN or infinity",
    ),
    (
        "duplicate id across chunk and item",
        [search_pb2.BuildIndexRequest(items=[ITEM], chunk=chunk(["x"], [0, 1, 0], 3))],
        "image id 'x' occurs 2 times; ids must be unique",
    ),
]


@pytest.mark.parametrize(("name", "messages", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_packed_input_is_refused(
    stub: search_pb2_grpc.SearchServiceStub,
    name: str,
    messages: list[search_pb2.BuildIndexRequest],
    message: str,
) -> None:
    options = search_pb2.BuildIndexRequest(options=search_pb2.BuildOptions(version=1))
    with pytest.raises(grpc.RpcError) as info:
        stub.BuildIndex(iter([options, *messages]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")
    assert not stub.GetIndexInfo(search_pb2.GetIndexInfoRequest()).has_index
