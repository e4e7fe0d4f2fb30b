"""SearchService over gRPC on loopback, backed by Milvus Lite: happy paths and status codes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from search_helpers import IDS, META, VECTORS, Q, build_stream, search_request

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.search.batcher import SearchBatcher
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.index_version import IndexVersion
from services.search.metrics import COLLECTORS
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity

FAST_RETRY = RetryPolicy(attempts=2, delay_s=0.01)

INSECURE = ServerSecurity.insecure()
SEARCH_REGISTRY = grpc_service_registry(COLLECTORS)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[IndexManager]:
    opened = IndexManager.open(str(tmp_path / "milvus.db"), IndexConfig(), FAST_RETRY)
    yield opened
    opened.close(timeout_s=5)


@pytest.fixture
def stub(serve, manager: IndexManager) -> search_pb2_grpc.SearchServiceStub:
    return search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=INSECURE))
    )


@pytest.fixture
def serving_stub(stub: search_pb2_grpc.SearchServiceStub) -> search_pb2_grpc.SearchServiceStub:
    stub.BuildIndex(build_stream(1, IDS, VECTORS, META, model_version="m1", swap=True))
    return stub


def code_of(call, *args) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    return info.value.code()


def metric(name: str) -> float:
    return SEARCH_REGISTRY.get_sample_value(name) or 0.0


def test_build_swap_search_and_info(stub: search_pb2_grpc.SearchServiceStub) -> None:
    assert not stub.GetIndexInfo(search_pb2.GetIndexInfoRequest()).has_index
    rebuilds = metric("anneal_index_rebuild_seconds_count")
    built = stub.BuildIndex(build_stream(1, IDS, VECTORS, META, model_version="m1"))
    assert (built.version, built.count, built.dim, built.swapped) == (1, 6, 4, False)
    assert metric("anneal_index_rebuild_seconds_count") == rebuilds + 1
    swapped = stub.SwapIndex(search_pb2.SwapIndexRequest(version=1))
    assert (swapped.version, swapped.previous_version) == (1, 0)
    assert metric("anneal_index_version") == 1
    info = stub.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    assert (info.version, info.model_version, info.count, info.dim) == (1, "m1", 6, 4)
    assert (info.index_type, info.metric) == ("FLAT", "IP")

    reply = stub.Search(search_request(np.stack([Q[0], VECTORS[5]]), k=3))
    assert (reply.index_version, reply.model_version) == (1, "m1")
    first = reply.results[0].hits
    assert [h.image_id for h in first] == ["b", "c", "a"]
    assert [h.rank for h in first] == [1, 2, 3]
    assert [h.score for h in first] == pytest.approx([0.96, 0.8, 0.6], abs=1e-5)
    assert dict(first[0].metadata) == {"name": "B"}
    assert [h.image_id for h in reply.results[1].hits][:2] == ["f", "e"]


def test_get_vector(serving_stub: search_pb2_grpc.SearchServiceStub) -> None:
    reply = serving_stub.GetVector(search_pb2.GetVectorRequest(image_id="b"))
    assert list(reply.vector.values) == pytest.approx([0.8, 0.6, 0, 0])
    assert (dict(reply.metadata), reply.index_version) == ({"name": "B"}, 1)
    assert (
        code_of(serving_stub.GetVector, search_pb2.GetVectorRequest(image_id="nope"))
        == grpc.StatusCode.NOT_FOUND
    )


def test_codes_before_any_index(stub: search_pb2_grpc.SearchServiceStub) -> None:
    assert code_of(stub.Search, search_request(Q, 1)) == grpc.StatusCode.FAILED_PRECONDITION
    get = search_pb2.GetVectorRequest(image_id="a")
    assert code_of(stub.GetVector, get) == grpc.StatusCode.FAILED_PRECONDITION
    swap = search_pb2.SwapIndexRequest(version=1)
    assert code_of(stub.SwapIndex, swap) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (search_request(Q, 0), "k must be between 1 and 1000"),
        (search_request(Q, 1001), "k must be between 1 and 1000"),
        (search_request(np.ones((1, 5)), 3), "dimension 5"),
        (search_request(np.array([[np.nan, 0, 0, 0]]), 3), "NaN"),
        (search_pb2.SearchRequest(k=3), "no query vector given"),
        (
            search_pb2.SearchRequest(
                vectors=[search_pb2.Vector(values=[1, 0, 0, 0]), search_pb2.Vector(values=[1])],
                k=3,
            ),
            "query vector 1 has 1 values",
        ),
        (search_request(np.ones((1001, 4)), 3), "the limit is 1000"),
    ],
)
def test_bad_searches_are_invalid_arguments(
    serving_stub: search_pb2_grpc.SearchServiceStub,
    request_: search_pb2.SearchRequest,
    fragment: str,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        serving_stub.Search(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in info.value.details()


def test_bad_builds_get_precise_codes(
    serving_stub: search_pb2_grpc.SearchServiceStub, manager: IndexManager
) -> None:
    build = serving_stub.BuildIndex
    assert code_of(build, build_stream(1, IDS, VECTORS)) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(build, iter([])) == grpc.StatusCode.INVALID_ARGUMENT
    no_options = iter([search_pb2.BuildIndexRequest(items=[])])
    assert code_of(build, no_options) == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        code_of(build, build_stream(2, ["a", "a"], VECTORS[:2])) == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code_of(build, build_stream(0, IDS, VECTORS)) == grpc.StatusCode.INVALID_ARGUMENT
    serving_stub.BuildIndex(build_stream(2, IDS, VECTORS))
    assert code_of(build, build_stream(2, IDS, VECTORS)) == grpc.StatusCode.ALREADY_EXISTS
    assert manager.collections() == ["anneal_v1", "anneal_v2"]  # nothing lost or changed
    serving_stub.SwapIndex(search_pb2.SwapIndexRequest(version=2))
    swap_back = search_pb2.SwapIndexRequest(version=1)
    assert code_of(serving_stub.SwapIndex, swap_back) == grpc.StatusCode.FAILED_PRECONDITION


def test_failed_build_is_unavailable_counted_and_old_version_serves(
    serve, manager: IndexManager, serving_stub: search_pb2_grpc.SearchServiceStub
) -> None:
    broken = IndexManager(manager._connection, IndexConfig(index_type="NO_SUCH_INDEX"), FAST_RETRY)
    broken_stub = search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", broken, security=INSECURE))
    )
    failures = metric("anneal_index_rebuild_failures_total")
    with pytest.raises(grpc.RpcError) as info:
        broken_stub.BuildIndex(build_stream(2, IDS, VECTORS, swap=True))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "serving version is unchanged" in info.value.details()
    assert metric("anneal_index_rebuild_failures_total") == failures + 1
    reply = serving_stub.Search(search_request(Q, 1))
    assert (reply.index_version, reply.results[0].hits[0].image_id) == (1, "b")


def test_concurrent_searches_are_coalesced(manager: IndexManager) -> None:
    manager.build(1, IDS, VECTORS, META)
    manager.swap(1)
    calls: list[int] = []

    def counted(vectors: np.ndarray, k: int, version: IndexVersion | None = None):
        calls.append(len(vectors))
        return manager.search(vectors, k, version)

    batcher = SearchBatcher(counted, max_wait_s=0.05)
    queries = [VECTORS[i % 6] for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda q: batcher.search(q, 1 + len(calls) % 3), queries))
    batcher.close()
    assert [r.hits[0][0].image_id for r in results] == [IDS[i % 6] for i in range(12)]
    assert sum(calls) == 12 and len(calls) < 12
