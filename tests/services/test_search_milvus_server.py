"""The search layer against a real Milvus 2.3.5 server: alias swap, restart, live rebuilds.

The server is started once per session (tests/services/milvus_server.py); each test uses its own
collection prefix so tests do not see each other's versions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pymilvus import MilvusClient
from search_helpers import IDS, META, VECTORS, Q, build_stream, search_request

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=3, delay_s=0.2)

INSECURE = ServerSecurity.insecure()


@pytest.fixture
def server_uri(request: pytest.FixtureRequest) -> str:
    """The session's Milvus server (started on first use)."""
    return str(request.getfixturevalue("milvus_server_uri"))


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return "t_" + request.node.name.replace("test_", "")[:40]


@pytest.fixture
def manager(server_uri: str, prefix: str) -> Iterator[IndexManager]:
    opened = IndexManager.open(server_uri, IndexConfig(prefix=prefix), FAST_RETRY)
    yield opened
    opened.close(timeout_s=10)


def test_alias_swap_on_the_server(manager: IndexManager, server_uri: str, prefix: str) -> None:
    manager.build(1, IDS, VECTORS, META, model_version="m1")
    manager.swap(1)
    raw = MilvusClient(server_uri)
    assert raw.describe_alias(f"{prefix}_current")["collection_name"] == f"{prefix}_v1"
    assert [h.image_id for h in manager.search(Q, k=3).hits[0]] == ["b", "c", "a"]

    manager.build(2, IDS, -VECTORS, META, model_version="m2")  # reversed order of similarity
    manager.swap(2)
    assert raw.describe_alias(f"{prefix}_current")["collection_name"] == f"{prefix}_v2"
    result = manager.search(Q, k=3)
    assert (result.version, result.model_version) == (2, "m2")
    assert [h.image_id for h in result.hits[0]][:3] != ["b", "c", "a"]
    assert manager.wait_retired(timeout_s=30)
    assert manager.collections() == [f"{prefix}_v2"]

    manager.close()
    reopened = IndexManager.open(server_uri, IndexConfig(prefix=prefix), FAST_RETRY)
    serving = reopened.current()
    assert serving is not None and (serving.version, serving.model_version) == (2, "m2")
    assert reopened.get_vector("b").vector.tolist() == pytest.approx([-0.8, -0.6, 0, 0])
    exported = list(reopened.export(0, batch_size=4))  # one query iterator, paged
    assert [len(b.ids) for b in exported] == [4, 2] and {b.version.version for b in exported} == {2}
    rows = dict(
        zip(
            [i for b in exported for i in b.ids],
            np.concatenate([b.vectors for b in exported]),
            strict=True,
        )
    )
    assert sorted(rows) == IDS
    assert all(np.allclose(rows[i], -v) for i, v in zip(IDS, VECTORS, strict=True))
    reopened.close()
    raw.close()


def test_live_rebuilds_over_grpc(serve, manager: IndexManager) -> None:
    """Clients query all the time while two rebuild+swap cycles run: no errors, full answers,
    versions never going backwards in any client's view."""
    stub = search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=INSECURE))
    )
    rng = np.random.default_rng(0)
    n, k = 200, 10
    ids = [f"img{i:03d}" for i in range(n)]

    def vectors() -> np.ndarray:
        raw = rng.standard_normal((n, 16)).astype(np.float32)
        return raw / np.linalg.norm(raw, axis=1, keepdims=True)

    stub.BuildIndex(build_stream(1, ids, vectors(), swap=True, batch=64))
    stop = threading.Event()
    views: dict[int, list[int]] = {c: [] for c in range(4)}
    failures: list[str] = []

    def client(number: int) -> None:
        query = search_request(rng.standard_normal((1, 16)).astype(np.float32), k)
        while not stop.is_set():
            try:
                reply = stub.Search(query, timeout=10)
            except Exception as exc:  # any failure fails the test below
                failures.append(f"client {number}: {exc}")
                continue
            if len(reply.results[0].hits) != k:
                failures.append(f"client {number}: {len(reply.results[0].hits)} hits")
            views[number].append(reply.index_version)

    threads = [threading.Thread(target=client, args=(c,)) for c in views]
    for thread in threads:
        thread.start()
    for version in (2, 3):
        time.sleep(0.5)
        stub.BuildIndex(build_stream(version, ids, vectors(), swap=True, batch=64))
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    for view in views.values():
        assert view == sorted(view) and view[0] >= 1 and view[-1] == 3
    info = stub.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    assert (info.version, info.count, info.dim) == (3, n, 16)
    assert manager.wait_retired(timeout_s=30)
