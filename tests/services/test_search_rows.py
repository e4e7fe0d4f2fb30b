"""Rows held in memory and searches by archive id: same answers as Milvus, one version each."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from search_helpers import IDS, META, VECTORS, Q, build_stream, search_request

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.search.batcher import SearchBatcher
from services.search.errors import UnknownImageError
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.index_version import IndexVersion
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity

FAST_RETRY = RetryPolicy(attempts=2, delay_s=0.01)
IN_MEMORY = IndexConfig()
MILVUS_ONLY = IndexConfig(rows_in_memory_max_bytes=0)
# For b = (0.8, 0.6, 0, 0) the inner products are b 1.0, a 0.8, c 0.6, then 0 for d, e, f.
B_RANKING = ["b", "a", "c"]

INSECURE = ServerSecurity.insecure()


def open_manager(path: Path, config: IndexConfig) -> IndexManager:
    return IndexManager.open(str(path / "milvus.db"), config, FAST_RETRY)


@pytest.fixture(params=[IN_MEMORY, MILVUS_ONLY], ids=["in-memory", "milvus-only"])
def serving(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexManager]:
    manager = open_manager(tmp_path, request.param)
    manager.build(1, IDS, VECTORS, META, model_version="m1")
    manager.swap(1)
    yield manager
    manager.close(timeout_s=5)


def test_rows_are_in_memory_only_below_the_limit(serving: IndexManager) -> None:
    limit = serving.config.rows_in_memory_max_bytes
    assert serving.in_memory(1) == (limit >= VECTORS.nbytes)


def test_both_paths_give_the_same_rows_and_hits(serving: IndexManager) -> None:
    with serving.pin() as pinned:
        found = serving.vectors_of(pinned, ["e", "a", "e"])
    np.testing.assert_array_equal(found, VECTORS[[4, 0, 4]])
    stored = serving.get_vector("e")
    np.testing.assert_array_equal(stored.vector, VECTORS[4])
    assert (stored.metadata, stored.version, stored.model_version) == ({"name": "E"}, 1, "m1")
    hits = serving.search(Q, k=3).hits[0]
    assert [(h.image_id, h.metadata) for h in hits] == [
        ("b", {"name": "B"}),
        ("c", {"name": "C"}),
        ("a", {"name": "A"}),
    ]


def test_unknown_or_malformed_ids_are_not_found(serving: IndexManager) -> None:
    with serving.pin() as pinned:
        with pytest.raises(UnknownImageError, match="'zzz' in index version 1"):
            serving.vectors_of(pinned, ["a", "zzz"])
        with pytest.raises(UnknownImageError, match="quote"):
            serving.vectors_of(pinned, ['a" or image_id != "'])


def test_a_pinned_version_answers_with_its_own_rows_after_a_swap(tmp_path: Path) -> None:
    manager = open_manager(tmp_path, IN_MEMORY)
    manager.build(1, IDS, VECTORS, META, model_version="m1")
    manager.swap(1)
    assert manager.in_memory(1)
    moved = VECTORS[[2, 0, 1, 3, 4, 5]]  # version 2: a, b, c hold c, a, b's old vectors
    with manager.pin() as pinned:
        manager.build(2, IDS, moved, META, model_version="m2")
        manager.swap(2)
        assert not manager.in_memory(1) and manager.in_memory(2)
        # Version 1 left memory at the swap, but it is still held: read from Milvus.
        np.testing.assert_array_equal(manager.vectors_of(pinned, ["b"]), VECTORS[[1]])
        old = manager.search(manager.vectors_of(pinned, ["b"]), 3, pinned)
        assert (old.version, [h.image_id for h in old.hits[0]]) == (1, B_RANKING)
    new = manager.get_vector("b")
    assert (new.version, new.model_version, new.vector.tolist()) == (2, "m2", [1, 0, 0, 0])
    manager.close(timeout_s=5)


def test_restart_reads_the_serving_rows_back_into_memory(tmp_path: Path) -> None:
    first = open_manager(tmp_path, IN_MEMORY)
    first.build(1, IDS, VECTORS, META, model_version="m1")
    first.swap(1)
    first.close()
    second = open_manager(tmp_path, IN_MEMORY)
    assert second.in_memory(1)
    assert second.get_vector("c").metadata == {"name": "C"}
    np.testing.assert_array_equal(second.get_vector("c").vector, VECTORS[2])
    second.close()
    third = open_manager(tmp_path, MILVUS_ONLY)
    assert not third.in_memory(1) and third.get_vector("c").metadata == {"name": "C"}
    third.close()


def test_batcher_searches_each_pinned_version_apart(tmp_path: Path) -> None:
    manager = open_manager(tmp_path, IN_MEMORY)
    manager.build(1, IDS, VECTORS, META)
    manager.swap(1)
    calls: list[int | None] = []

    def counted(vectors: np.ndarray, k: int, version: IndexVersion | None = None):
        calls.append(version.version if version else None)
        return manager.search(vectors, k, version)

    batcher = SearchBatcher(counted, max_wait_s=0.2)
    with manager.pin() as pinned:
        manager.build(2, IDS, VECTORS[::-1].copy(), META)
        manager.swap(2)
        with ThreadPoolExecutor(2) as pool:
            on_old = pool.submit(batcher.search, Q, 1, None, pinned)
            on_new = pool.submit(batcher.search, Q, 1)
            old, new = on_old.result(), on_new.result()
    batcher.close()
    assert (old.version, old.hits[0][0].image_id) == (1, "b")
    assert (new.version, new.hits[0][0].image_id) == (2, "e")  # e holds f's old vector
    assert sorted(calls, key=str) == [1, None]
    manager.close(timeout_s=5)


@pytest.fixture
def stub(serve, tmp_path: Path) -> Iterator[search_pb2_grpc.SearchServiceStub]:
    manager = open_manager(tmp_path, IN_MEMORY)
    yield search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=INSECURE))
    )
    manager.close(timeout_s=5)


def code_and_details(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value.code(), info.value.details()


def test_search_by_image_ids_over_grpc(stub: search_pb2_grpc.SearchServiceStub) -> None:
    by_ids = search_pb2.SearchRequest(image_ids=["b"], k=3)
    code, _ = code_and_details(stub.Search, by_ids)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    stub.BuildIndex(build_stream(1, IDS, VECTORS, META, model_version="m1", swap=True))
    reply = stub.Search(by_ids)
    assert (reply.index_version, reply.model_version) == (1, "m1")
    assert [h.image_id for h in reply.results[0].hits] == B_RANKING
    assert reply.results[0].hits[1].metadata == {"name": "A"}
    mixed = search_request(Q, 2)
    mixed.image_ids.extend(["f", "b"])
    reply = stub.Search(mixed)  # vectors first, then the ids, in request order
    assert [[h.image_id for h in r.hits] for r in reply.results] == [
        ["b", "c"],
        ["f", "e"],
        ["b", "a"],
    ]


def test_bad_search_by_image_ids(stub: search_pb2_grpc.SearchServiceStub) -> None:
    stub.BuildIndex(build_stream(1, IDS, VECTORS, META, swap=True))
    code, details = code_and_details(
        stub.Search, search_pb2.SearchRequest(image_ids=["b", "x"], k=1)
    )
    assert code == grpc.StatusCode.NOT_FOUND and "'x'" in details
    code, details = code_and_details(stub.Search, search_pb2.SearchRequest(k=1))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no query vector" in details
    wrong_dim = search_pb2.SearchRequest(
        vectors=[search_pb2.Vector(values=[1.0, 0.0])], image_ids=["b"], k=1
    )
    code, details = code_and_details(stub.Search, wrong_dim)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "dimension 2" in details
    too_many = search_request(np.tile(Q, (600, 1)), 1)
    too_many.image_ids.extend(["a"] * 401)
    code, details = code_and_details(stub.Search, too_many)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "1001 queries" in details
    code, _ = code_and_details(stub.Search, search_pb2.SearchRequest(image_ids=["b"], k=0))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
