"""Storage faults during a rebuild leave the old index serving, counted once, and a later
rebuild succeeds: Milvus Lite and a Milvus server failing a load, and a server killed mid-build.

Faults are injected into a real client (tests/services/milvus_faults.py) or are real: the
server is SIGKILLed and started again on its data, or frozen (SIGSTOP) and resumed (``-m slow``:
its own server each; the kill about a minute, most of it Milvus reloading the serving collection
after the crash). Calls go over gRPC to the search
service.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from milvus_faults import FaultyMilvusClient, milvus_error
from milvus_server import (
    kill_milvus_server,
    restart_milvus_server,
    start_milvus_server,
)
from search_helpers import IDS, META, VECTORS, Q, build_stream, search_request

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.metrics import COLLECTORS
from services.search.milvus_connection import MilvusConnection
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=3, delay_s=0.05)
REGISTRY = grpc_service_registry(COLLECTORS)
Stub = search_pb2_grpc.SearchServiceStub


def failures() -> float:
    return REGISTRY.get_sample_value("anneal_index_rebuild_failures_total") or 0.0


def serving_version(stub: Stub) -> tuple[int, int]:
    """(GetIndexInfo's version, the version a Search answered from)."""
    info = stub.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    reply = stub.Search(search_request(Q, 3), timeout=30)
    found = [h.image_id for h in reply.results[0].hits]
    assert found == ["b", "c", "a"] if reply.index_version == 1 else set(found) == {"d", "e", "f"}
    return info.version, reply.index_version


def serving_version_once_loaded(stub: Stub, timeout_s: float = 180.0) -> tuple[int, int]:
    """:func:`serving_version` once Milvus, back from a crash, has loaded the collection again
    (about 30 s here); UNAVAILABLE until then, as a client should retry."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return serving_version(stub)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def build(stub: Stub, version: int) -> search_pb2.BuildIndexResponse:
    """Version 1 holds VECTORS (Q's top 3: b, c, a), later ones -VECTORS (top 3: d, e, f)."""
    vectors = VECTORS if version == 1 else -VECTORS
    return stub.BuildIndex(build_stream(version, IDS, vectors, META, swap=True), timeout=120)


def build_fails(stub: Stub, version: int) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        build(stub, version)
    return info.value


@pytest.fixture(params=["lite", "server"])
def milvus_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "lite":
        return str(tmp_path / "milvus.db")
    return str(request.getfixturevalue("milvus_server_uri"))


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A collection prefix of this test's own on the shared server."""
    return "f_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:40]


def serve_search(serve, client: FaultyMilvusClient, prefix: str) -> tuple[IndexManager, Stub]:
    manager = IndexManager(MilvusConnection(client), IndexConfig(prefix=prefix), FAST_RETRY)
    return manager, Stub(serve(create_server("127.0.0.1:0", manager, security=INSECURE)))


INSECURE = ServerSecurity.insecure()


@pytest.fixture
def faulty(milvus_uri: str) -> Iterator[FaultyMilvusClient]:
    client = FaultyMilvusClient(milvus_uri)
    yield client
    client.close()


def test_a_load_that_keeps_failing_leaves_the_old_index_serving_and_counts_once(
    serve, faulty: FaultyMilvusClient, prefix: str
) -> None:
    manager, stub = serve_search(serve, faulty, prefix)
    build(stub, 1)
    faulty.inject("load_collection", f"{prefix}_v2", milvus_error("load"))
    before = failures()

    failed = build_fails(stub, 2)

    assert failed.code() == grpc.StatusCode.UNAVAILABLE
    assert "serving version is unchanged" in failed.details()
    assert faulty.faults_run("load_collection") == FAST_RETRY.attempts  # retried, then given up
    assert failures() == before + 1
    assert serving_version(stub) == (1, 1)
    assert manager.collections() == [f"{prefix}_v1"]  # the half-built version was dropped
    faulty.clear()
    assert build(stub, 2).swapped
    assert serving_version(stub) == (2, 2)
    assert failures() == before + 1
    assert manager.wait_retired(timeout_s=30)


@pytest.mark.parametrize("milvus_uri", ["lite"], indirect=True)
@pytest.mark.parametrize("step", ["create_collection", "flush", "create_index"])
def test_any_failed_build_step_is_rolled_back_counted_and_unavailable(
    serve, faulty: FaultyMilvusClient, prefix: str, step: str
) -> None:
    manager, stub = serve_search(serve, faulty, prefix)
    build(stub, 1)
    faulty.inject(step, f"{prefix}_v2", milvus_error(step))
    before = failures()
    assert build_fails(stub, 2).code() == grpc.StatusCode.UNAVAILABLE
    assert failures() == before + 1
    assert serving_version(stub) == (1, 1)
    assert manager.collections() == [f"{prefix}_v1"]


@pytest.mark.parametrize("milvus_uri", ["lite"], indirect=True)  # the server: as above, slower
def test_a_load_that_fails_once_is_retried_and_not_counted(
    serve, faulty: FaultyMilvusClient, prefix: str
) -> None:
    _manager, stub = serve_search(serve, faulty, prefix)
    build(stub, 1)
    faulty.inject("load_collection", f"{prefix}_v2", milvus_error("load"), times=1)
    before = failures()
    assert build(stub, 2).swapped
    assert faulty.faults_run("load_collection") == 1
    assert failures() == before
    assert serving_version(stub) == (2, 2)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Any, FaultyMilvusClient]]:
    """A Milvus server of this test's own (it is killed or frozen) and a client to it."""
    server, uri = start_milvus_server(tmp_path)
    client = FaultyMilvusClient(uri)
    yield server, client
    client.close()
    server.stop()


@pytest.mark.slow  # its own server: start, kill, restart, reload: about a minute
def test_a_milvus_server_killed_mid_build_leaves_the_old_index_to_serve_when_it_is_back(
    serve, own_server: tuple[Any, FaultyMilvusClient], tmp_path: Path
) -> None:
    server, client = own_server
    manager, stub = serve_search(serve, client, "anneal")
    build(stub, 1)
    # v2's rows are inserted and flushed; the server dies before its index is created
    client.inject("create_index", "anneal_v2", lambda _: kill_milvus_server(server))
    before = failures()

    failed = build_fails(stub, 2)

    assert failed.code() == grpc.StatusCode.UNAVAILABLE
    assert "serving version is unchanged" in failed.details()
    assert failures() == before + 1
    info = stub.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    assert (info.has_index, info.version) == (True, 1)  # known without Milvus
    restart_milvus_server(server, tmp_path)
    assert serving_version_once_loaded(stub) == (1, 1)
    assert "anneal_v2" in client.list_collections()  # the rollback could not drop it
    client.clear()
    assert build(stub, 2).swapped  # drops the leftover, builds anew
    assert serving_version(stub) == (2, 2)
    assert failures() == before + 1
    assert manager.wait_retired(timeout_s=30)


@pytest.mark.slow  # its own server
def test_a_milvus_server_that_hangs_mid_build_fails_the_build_within_the_timeout(
    serve, own_server: tuple[Any, FaultyMilvusClient]
) -> None:
    server, client = own_server
    pid = server.server_proc.pid
    config = IndexConfig(milvus_timeout_s=3.0)
    manager = IndexManager(MilvusConnection(client), config, FAST_RETRY)
    stub = Stub(serve(create_server("127.0.0.1:0", manager, security=INSECURE)))
    build(stub, 1)
    client.inject("create_index", "anneal_v2", lambda _: os.kill(pid, signal.SIGSTOP))
    before = failures()
    started = time.monotonic()
    try:
        failed = build_fails(stub, 2)
        waited = time.monotonic() - started
        info = stub.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    finally:
        os.kill(pid, signal.SIGCONT)
    assert failed.code() == grpc.StatusCode.UNAVAILABLE
    assert waited < 30  # create_index and the rollback's drop: 3 s each, then given up
    assert failures() == before + 1
    assert (info.has_index, info.version) == (True, 1)
    assert serving_version(stub) == (1, 1)
    client.clear()
    assert build(stub, 2).swapped
    assert serving_version(stub) == (2, 2)
    assert failures() == before + 1


@pytest.mark.slow  # its own server
def test_a_search_on_a_hung_milvus_server_fails_in_time_and_frees_the_next_queries(
    serve, own_server: tuple[Any, FaultyMilvusClient]
) -> None:
    server, client = own_server
    pid = server.server_proc.pid
    manager = IndexManager(MilvusConnection(client), IndexConfig(search_timeout_s=2.0), FAST_RETRY)
    stub = Stub(serve(create_server("127.0.0.1:0", manager, security=INSECURE)))
    build(stub, 1)
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as hung:
            stub.Search(search_request(Q, 2), timeout=30)
        waited = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert hung.value.code() == grpc.StatusCode.UNAVAILABLE
    assert waited < 15  # the 2 s search timeout (and pymilvus's retries within it), not 30 s
    reply = stub.Search(search_request(Q, 2), timeout=30)  # the batcher is free again
    assert [h.image_id for h in reply.results[0].hits] == ["b", "c"]
