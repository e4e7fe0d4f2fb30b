"""ExportVectors: a whole index version streamed back in batches, held against drops meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from search_helpers import IDS, META, VECTORS, build_stream

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

INSECURE = ServerSecurity.insecure()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[IndexManager]:
    opened = IndexManager.open(
        str(tmp_path / "milvus.db"), IndexConfig(), RetryPolicy(attempts=2, delay_s=0.01)
    )
    yield opened
    opened.close(timeout_s=5)


@pytest.fixture
def stub(serve, manager: IndexManager) -> search_pb2_grpc.SearchServiceStub:
    return search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=INSECURE))
    )


def export(stub, **fields) -> list[search_pb2.ExportVectorsResponse]:
    return list(stub.ExportVectors(search_pb2.ExportVectorsRequest(**fields)))


def code_of(stub, **fields) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        export(stub, **fields)
    return info.value.code()


def test_export_equals_what_was_built(stub: search_pb2_grpc.SearchServiceStub) -> None:
    stub.BuildIndex(build_stream(1, IDS, VECTORS, META, model_version="m1", swap=True))
    replies = export(stub, batch_size=4, include_metadata=True)
    assert [len(r.items) for r in replies] == [4, 2]
    assert {(r.index_version, r.model_version, r.count, r.dim) for r in replies} == {
        (1, "m1", 6, 4)
    }
    items = {i.image_id: i for r in replies for i in r.items}
    assert sorted(items) == IDS
    for image_id, vector, meta in zip(IDS, VECTORS, META, strict=True):
        assert list(items[image_id].vector.values) == pytest.approx(vector.tolist())
        assert dict(items[image_id].metadata) == meta
    plain = export(stub)  # default batch: one message; no metadata unless asked for
    assert len(plain) == 1 and len(plain[0].items) == 6
    assert all(not item.metadata for item in plain[0].items)


def test_export_of_a_built_version_before_its_swap(stub: search_pb2_grpc.SearchServiceStub) -> None:
    stub.BuildIndex(build_stream(1, IDS, VECTORS, model_version="m1", swap=True))
    stub.BuildIndex(build_stream(2, IDS[:3], -VECTORS[:3], model_version="m2"))
    (reply,) = export(stub, version=2)
    assert (reply.index_version, reply.model_version, reply.count) == (2, "m2", 3)
    assert list(reply.items[0].vector.values) == pytest.approx((-VECTORS[0]).tolist())
    assert export(stub, version=1)[0].index_version == 1
    assert export(stub)[0].index_version == 1  # 0 still means the serving version


def test_export_codes(stub: search_pb2_grpc.SearchServiceStub) -> None:
    assert code_of(stub) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(stub, version=1) == grpc.StatusCode.NOT_FOUND
    stub.BuildIndex(build_stream(1, IDS, VECTORS, swap=True))
    assert code_of(stub, version=9) == grpc.StatusCode.NOT_FOUND
    assert code_of(stub, version=-1) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(stub, batch_size=10_001) == grpc.StatusCode.INVALID_ARGUMENT
    stub.BuildIndex(build_stream(2, IDS, VECTORS, swap=True))
    assert code_of(stub, version=1) == grpc.StatusCode.NOT_FOUND  # retired by the swap


def test_a_swap_does_not_drop_a_version_mid_export(manager: IndexManager) -> None:
    manager.build(1, IDS, VECTORS, META, "m1")
    manager.swap(1)
    batches = manager.export(0, batch_size=2)
    first = next(batches)
    assert manager.in_flight(1) == 1
    manager.build(2, IDS, VECTORS[::-1].copy(), META, "m2")
    manager.swap(2)
    assert not manager.wait_retired(timeout_s=0.3)  # version 1 waits for the export
    assert "anneal_v1" in manager.collections()
    rest = list(batches)
    assert {b.version.version for b in [first, *rest]} == {1}
    got = dict(
        zip(
            [i for b in [first, *rest] for i in b.ids],
            np.concatenate([first.vectors, *(b.vectors for b in rest)]),
            strict=True,
        )
    )
    assert all(np.allclose(got[i], v) for i, v in zip(IDS, VECTORS, strict=True))
    assert manager.in_flight(1) == 0
    assert manager.wait_retired(timeout_s=10)
    assert manager.collections() == ["anneal_v2"]
