"""The retrieval service reading a Milvus server directly (DirectIndex), over gRPC.

The session's real Milvus 2.3.5 server holds the hand-made vectors of search_helpers (for Q:
b 0.96, c 0.8, a 0.6), written by an IndexManager as the search service would. No embedding
service: queries by archive id and by vector never call it (its channel points at a closed port).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from search_helpers import IDS, META, VECTORS, Q

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.retrieval.__main__ import index_access
from services.retrieval.direct_index import DirectIndex
from services.retrieval.search_client import SearchClient
from services.retrieval.server import create_server
from services.retrieval.settings import RetrievalSettings
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.milvus_connection import MilvusConnection
from services.search.retry import RetryPolicy
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

Stub = retrieval_pb2_grpc.RetrievalServiceStub


@pytest.fixture
def server_uri(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("milvus_server_uri"))


@pytest.fixture
def config(request: pytest.FixtureRequest) -> IndexConfig:
    return IndexConfig(prefix="r_" + request.node.name.replace("test_", "")[:40])


@pytest.fixture
def writer(server_uri: str, config: IndexConfig) -> Iterator[IndexManager]:
    opened = IndexManager.open(server_uri, config, RetryPolicy(attempts=3, delay_s=0.2))
    yield opened
    opened.close(timeout_s=10)


@pytest.fixture
def retrieval(serve, server_uri: str, config: IndexConfig) -> Iterator[tuple[Stub, DirectIndex]]:
    index = DirectIndex(MilvusConnection.open(server_uri), config, refresh_s=0.1)
    nowhere = grpc.insecure_channel("127.0.0.1:1")
    stub = Stub(
        serve(create_server("127.0.0.1:0", nowhere, index, security=ServerSecurity.insecure()))
    )
    yield stub, index
    index.close()


def by_vector(values: list[float], k: int) -> retrieval_pb2.RetrieveRequest:
    query = retrieval_pb2.Query(vector=retrieval_pb2.Vector(values=values))
    return retrieval_pb2.RetrieveRequest(query=query, k=k)


def by_id(image_id: str, k: int) -> retrieval_pb2.RetrieveRequest:
    query = retrieval_pb2.Query(image_id=image_id)
    return retrieval_pb2.RetrieveRequest(query=query, k=k, exclude_query_image=True)


def test_answers_by_vector_and_by_id_from_the_server(
    writer: IndexManager, retrieval: tuple[Stub, DirectIndex]
) -> None:
    stub, index = retrieval
    writer.build(1, IDS, VECTORS, META, model_version="m1")
    writer.swap(1)
    assert index.refresh() is not None
    reply = stub.Retrieve(by_vector(Q[0].tolist(), 3), timeout=10)
    assert [h.image_id for h in reply.hits] == ["b", "c", "a"]
    assert [h.rank for h in reply.hits] == [1, 2, 3]
    assert reply.hits[0].score == pytest.approx(0.96, abs=1e-5)
    assert dict(reply.hits[0].metadata) == {"name": "B"}
    assert (reply.index_version, reply.model_version) == (1, "m1")
    # b's nearest others: a 0.8, c 0.6 (its own vector left out).
    reply = stub.Retrieve(by_id("b", 2), timeout=10)
    assert [h.image_id for h in reply.hits] == ["a", "c"]


def test_bad_queries_get_the_codes_the_search_path_gives(
    writer: IndexManager, retrieval: tuple[Stub, DirectIndex]
) -> None:
    stub, index = retrieval
    with pytest.raises(grpc.RpcError) as before:
        stub.Retrieve(by_vector([1.0, 0, 0, 0], 2), timeout=10)
    assert before.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    writer.build(1, IDS, VECTORS, META, model_version="m1")
    writer.swap(1)
    index.refresh()
    with pytest.raises(grpc.RpcError) as missing:
        stub.Retrieve(by_id("zz", 2), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'zz'" in (missing.value.details() or "")
    with pytest.raises(grpc.RpcError) as wrong:
        stub.Retrieve(by_vector([1.0, 0.0], 2), timeout=10)
    assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_server_uri_is_read_directly_lite_and_none_through_search(
    server_uri: str, tmp_path: Path
) -> None:
    search = grpc.insecure_channel("127.0.0.1:1")
    env = {"ANNEAL_INSECURE": "true"}
    for uri, kind in (("", SearchClient), (str(tmp_path / "m.db"), SearchClient)):
        settings = RetrievalSettings.read([], {**env, "ANNEAL_MILVUS_URI": uri})
        assert isinstance(index_access(settings, search), kind), uri
    settings = RetrievalSettings.read([], {**env, "ANNEAL_MILVUS_URI": server_uri})
    direct = index_access(settings, search)
    try:
        assert isinstance(direct, DirectIndex)
    finally:
        direct.close()
    assert not (tmp_path / "m.db").exists(), "retrieval never opens a Lite file"
