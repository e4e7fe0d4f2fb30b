"""RetrievalService end to end on loopback: a real embedding service (local Ray pool), a real
search service on Milvus Lite, and the retrieval service calling both.

The archive is six tiny noise images embedded by the embedding service itself, so the expected
rankings are plain numpy dot products of the indexed vectors, and an archive image queried by
its bytes finds itself first with score 1.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from embedding_fixtures import INITIAL_VERSION, embed_stream, fresh_catalog, png_images, vectors_of
from search_helpers import build_stream

from anneal.models.embedding_model import EmbeddingModel
from anneal.models.model_version import ModelVersion
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.embedding.server import create_server as create_embedding_server
from services.retrieval.search_client import SearchClient
from services.retrieval.server import create_server as create_retrieval_server
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.retry import RetryPolicy
from services.search.server import create_server as create_search_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

IDS = [f"{name}.png" for name in "abcdef"]
IMAGES = png_images(len(IDS), seed=7)
META = [{"label": name[0].upper()} for name in IDS]
Stub = retrieval_pb2_grpc.RetrievalServiceStub

INSECURE = ServerSecurity.insecure()


@dataclass
class System:
    """The three services of one test, and the vectors indexed as version 1."""

    retrieval: Stub
    embedding: embedding_pb2_grpc.EmbeddingServiceStub
    search_channel: grpc.Channel
    vectors: np.ndarray


@pytest.fixture
def system(serve, tmp_path: Path) -> Iterator[System]:
    manager = IndexManager.open(
        str(tmp_path / "milvus.db"), IndexConfig(), RetryPolicy(attempts=2, delay_s=0.01)
    )
    search_channel = serve(create_search_server("127.0.0.1:0", manager, security=INSECURE))
    embedding_channel = serve(
        create_embedding_server("127.0.0.1:0", _pool(), fresh_catalog(), security=INSECURE)
    )
    embedding = embedding_pb2_grpc.EmbeddingServiceStub(embedding_channel)
    vectors = vectors_of(list(embedding.EmbedImages(embed_stream(IMAGES, IDS))))
    retrieval = Stub(
        serve(
            create_retrieval_server(
                "127.0.0.1:0", embedding_channel, SearchClient(search_channel), security=INSECURE
            )
        )
    )
    yield System(retrieval, embedding, search_channel, vectors)
    manager.close(timeout_s=5)


def _pool():
    from embedding_fixtures import shared_pool

    return shared_pool()


def build_index(system: System, version: int, vectors: np.ndarray, model_version: str) -> None:
    from annealpb.search.v1 import search_pb2_grpc

    search = search_pb2_grpc.SearchServiceStub(system.search_channel)
    search.BuildIndex(build_stream(version, IDS, vectors, META, model_version, swap=True, batch=6))


@pytest.fixture
def serving(system: System) -> System:
    build_index(system, 1, system.vectors, INITIAL_VERSION)
    return system


def by_id(image_id: str, k: int, exclude: bool = False) -> retrieval_pb2.RetrieveRequest:
    return retrieval_pb2.RetrieveRequest(
        query=retrieval_pb2.Query(image_id=image_id), k=k, exclude_query_image=exclude
    )


def by_vector(vector: np.ndarray | list[float], k: int) -> retrieval_pb2.RetrieveRequest:
    values = [float(v) for v in vector]
    return retrieval_pb2.RetrieveRequest(
        query=retrieval_pb2.Query(vector=retrieval_pb2.Vector(values=values)), k=k
    )


def by_image(data: bytes, k: int) -> retrieval_pb2.RetrieveRequest:
    return retrieval_pb2.RetrieveRequest(query=retrieval_pb2.Query(image=data), k=k)


def ranking(vectors: np.ndarray, query: np.ndarray) -> list[str]:
    """Archive ids by descending inner product with ``query`` (the index's IP metric)."""
    return [IDS[i] for i in np.argsort(-(vectors @ query), kind="stable")]


def code_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_by_id_vector_and_image(serving: System) -> None:
    stub, vectors = serving.retrieval, serving.vectors
    reply = stub.Retrieve(by_id("c.png", k=6))
    assert [h.image_id for h in reply.hits] == ranking(vectors, vectors[2])
    assert reply.hits[0].image_id == "c.png"
    assert [h.score for h in reply.hits] == pytest.approx(
        sorted(vectors @ vectors[2], reverse=True), abs=1e-4
    )
    assert [h.rank for h in reply.hits] == [1, 2, 3, 4, 5, 6]
    assert dict(reply.hits[0].metadata) == {"label": "C"}
    assert (reply.index_version, reply.model_version) == (1, INITIAL_VERSION)
    assert reply.server_time_ms > 0

    excluded = stub.Retrieve(by_id("c.png", k=3, exclude=True))
    assert [h.image_id for h in excluded.hits] == ranking(vectors, vectors[2])[1:4]
    assert [h.rank for h in excluded.hits] == [1, 2, 3]

    mixed = vectors[3] + 0.5 * vectors[4]
    reply = stub.Retrieve(by_vector(mixed, k=2))
    assert [h.image_id for h in reply.hits] == ranking(vectors, mixed)[:2]

    reply = stub.Retrieve(by_image(IMAGES[4], k=3))
    assert reply.hits[0].image_id == "e.png"
    assert reply.hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.image_id for h in reply.hits] == ranking(vectors, vectors[4])[:3]
    assert (reply.index_version, reply.model_version) == (1, INITIAL_VERSION)


def test_batch_answers_in_request_order(serving: System) -> None:
    # Search answers image and vector rows first, then ids: retrieval puts them back in order.
    requests = [
        by_id("d.png", 1),
        by_image(IMAGES[5], 1),
        by_id("a.png", 2, exclude=True),
        by_vector(serving.vectors[1], 4),
    ]
    reply = serving.retrieval.RetrieveBatch(retrieval_pb2.RetrieveBatchRequest(requests=requests))
    assert [[h.image_id for h in r.hits] for r in reply.results] == [
        ["d.png"],
        ["f.png"],
        ranking(serving.vectors, serving.vectors[0])[1:3],
        ranking(serving.vectors, serving.vectors[1])[:4],
    ]
    assert {r.index_version for r in reply.results} == {1}


def test_bad_queries_get_precise_codes(serving: System) -> None:
    stub = serving.retrieval
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND

    def retrieve(request: retrieval_pb2.RetrieveRequest) -> tuple[grpc.StatusCode, str]:
        return code_of(lambda: stub.Retrieve(request))

    assert retrieve(by_id("a.png", 0)) == (invalid, "query: k must be between 1 and 1000, got 0")
    assert retrieve(by_id("a.png", 1001))[0] == invalid
    assert retrieve(retrieval_pb2.RetrieveRequest(k=3))[0] == invalid
    assert retrieve(by_image(b"", 3))[0] == invalid
    code, details = retrieve(by_vector([1.0, 0.0, 0.0], 3))
    assert code == invalid and "dimension" in details
    assert retrieve(by_vector([float("nan")] * 1280, 3))[0] == invalid
    code, details = retrieve(by_id("missing.png", 3))
    assert code == not_found and "missing.png" in details
    code, details = retrieve(by_image(b"\x89PNG broken", 3))
    assert code == invalid and "cannot decode" in details

    def batch(*requests: retrieval_pb2.RetrieveRequest) -> tuple[grpc.StatusCode, str]:
        call = retrieval_pb2.RetrieveBatchRequest(requests=requests)
        return code_of(lambda: stub.RetrieveBatch(call))

    assert batch()[0] == invalid
    code, details = batch(by_id("a.png", 2), by_id("nope.png", 2))
    assert code == not_found and details.startswith("query 1:")
    code, details = batch(by_id("a.png", 2), by_vector(serving.vectors[0], 2), by_id("b.png", 0))
    assert code == invalid and details.startswith("query 2: k must be")
    code, details = batch(by_vector(serving.vectors[0], 2), by_vector([1.0, 2.0], 2))
    assert code == invalid and details.startswith("query 1: vector has 2 values")


def test_no_index_is_a_failed_precondition(system: System) -> None:
    for request in (by_image(IMAGES[0], 3), by_id("a.png", 3), by_vector(system.vectors[0], 3)):
        code, details = code_of(lambda request=request: system.retrieval.Retrieve(request))
        assert code == grpc.StatusCode.FAILED_PRECONDITION, details


def test_unavailable_downstream_is_unavailable(serve) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    channel = grpc.insecure_channel(dead)
    stub = Stub(
        serve(
            create_retrieval_server(
                "127.0.0.1:0", channel, SearchClient(channel), security=INSECURE
            )
        )
    )
    for request in (by_image(IMAGES[0], 3), by_id("a.png", 3), by_vector([1.0, 0.0], 3)):
        code, details = code_of(lambda request=request: stub.Retrieve(request, timeout=10))
        assert code == grpc.StatusCode.UNAVAILABLE, details
    channel.close()


def test_image_queries_follow_the_model_of_the_serving_index(
    serving: System, tmp_path: Path
) -> None:
    """After a swap to an index of another model, image queries use that model (no mixing)."""
    stub = serving.retrieval
    assert stub.Retrieve(by_image(IMAGES[1], 1)).model_version == INITIAL_VERSION  # warm hint
    reference = EmbeddingModel.create("efficientnet-lite0")
    small = EmbeddingModel(
        reference.backbone, _head(16), "efficientnet-lite0", ModelVersion.trained(1)
    )
    small.save(tmp_path / "small.pt")
    for version in ("small", "small-b", "small-c"):
        serving.embedding.LoadModel(
            embedding_pb2.LoadModelRequest(
                model_version=version, checkpoint_path=str(tmp_path / "small.pt")
            )
        )
    small_vectors = vectors_of(
        list(serving.embedding.EmbedImages(embed_stream(IMAGES, IDS, model_version="small")))
    )
    # Version 2: another model and dimension; the retrieval's hint is stale (dimension error).
    build_index(serving, 2, small_vectors, "small")
    reply = stub.Retrieve(by_image(IMAGES[1], 2))
    assert (reply.index_version, reply.model_version) == (2, "small")
    assert [h.image_id for h in reply.hits] == ranking(small_vectors, small_vectors[1])[:2]
    assert reply.hits[0].score == pytest.approx(1.0, abs=1e-4)
    # Version 3: same dimension, another model name: caught by the model version in the answer.
    build_index(serving, 3, small_vectors, "small-b")
    reply = stub.Retrieve(by_image(IMAGES[3], 1))
    assert (reply.index_version, reply.model_version, reply.hits[0].image_id) == (
        3,
        "small-b",
        "d.png",
    )
    reply = stub.Retrieve(by_id("d.png", 1))
    assert (reply.index_version, reply.hits[0].image_id) == (3, "d.png")
    # Version 4, and the model of version 3 unloaded: the embedding service no longer knows the
    # retrieval's hint (NOT_FOUND there), so retrieval asks search which model serves now.
    build_index(serving, 4, small_vectors, "small-c")
    unload = embedding_pb2.UnloadModelRequest(model_version="small-b")
    assert serving.embedding.UnloadModel(unload).unloaded
    reply = stub.Retrieve(by_image(IMAGES[0], 1))
    assert (reply.index_version, reply.model_version, reply.hits[0].image_id) == (
        4,
        "small-c",
        "a.png",
    )


def _head(dim: int):
    from anneal.models.head import ProjectionHead

    return ProjectionHead(1280, dim)
