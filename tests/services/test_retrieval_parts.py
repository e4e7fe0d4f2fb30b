"""Parts of the retrieval service that need no servers: query checks, error translation,
settings."""

from __future__ import annotations

import re

import grpc
import pytest

from annealpb.retrieval.v1 import retrieval_pb2
from services.common.errors import NotFoundError, UnavailableError
from services.retrieval.downstream import downstream_error
from services.retrieval.query import Query, parse_batch
from services.retrieval.settings import RetrievalSettings


def request(k: int, **query: object) -> retrieval_pb2.RetrieveRequest:
    return retrieval_pb2.RetrieveRequest(query=retrieval_pb2.Query(**query), k=k)


def test_queries_are_checked() -> None:
    parsed = Query.parse(request(5, image_id="a.png"), "query")
    assert (parsed.image_id, parsed.k, parsed.search_k) == ("a.png", 5, 5)
    excluding = retrieval_pb2.RetrieveRequest(
        query=retrieval_pb2.Query(image_id="a.png"), k=1000, exclude_query_image=True
    )
    assert Query.parse(excluding, "query").search_k == 1000  # never above the index's limit
    assert Query.parse(request(3, image=b"x"), "q").search_k == 3
    vector = Query.parse(request(1, vector=retrieval_pb2.Vector(values=[1, 2])), "q").vector
    assert vector is not None and vector.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (request(0, image_id="a"), "query: k must be between 1 and 1000, got 0"),
        (request(1001, image_id="a"), "query: k must be between 1 and 1000, got 1001"),
        (request(3), "query: no query; set one of image, image_id or vector"),
        (request(3, image=b""), "query: the image is empty"),
        (request(3, image_id=""), "query: image_id is empty"),
        (request(3, vector=retrieval_pb2.Vector()), "query: the vector is empty"),
        (request(3, vector=retrieval_pb2.Vector(values=[float("inf")])), "NaN or infinity"),
    ],
)
def test_bad_queries(bad: retrieval_pb2.RetrieveRequest, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Query.parse(bad, "query")


def test_batches_are_checked() -> None:
    with pytest.raises(ValueError, match="1 to 1000 queries"):
        parse_batch([])
    with pytest.raises(ValueError, match=r"^query 1: k must"):
        parse_batch([request(1, image_id="a"), request(0, image_id="b")])


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A stand-in for a finished call's error (only its code and details are read)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_downstream_codes_are_kept_or_overridden() -> None:
    error = downstream_error(FailedCall(grpc.StatusCode.NOT_FOUND, "no x"), "search GetVector")
    assert isinstance(error, NotFoundError) and str(error) == "search GetVector: no x"
    unavailable = downstream_error(FailedCall(grpc.StatusCode.UNAVAILABLE, "down"), "search")
    assert isinstance(unavailable, UnavailableError)
    overridden = downstream_error(
        FailedCall(grpc.StatusCode.NOT_FOUND, "no model"),
        "embedding",
        {grpc.StatusCode.NOT_FOUND: UnavailableError},
    )
    assert isinstance(overridden, UnavailableError)
    internal = downstream_error(FailedCall(grpc.StatusCode.INTERNAL, "bug"), "search")
    assert type(internal) is RuntimeError


def test_settings() -> None:
    insecure = {"ANNEAL_INSECURE": "true"}
    values = RetrievalSettings.read([], insecure)
    assert (values.port, values.embedding_addr, values.search_addr) == (
        50051,
        "127.0.0.1:50052",
        "127.0.0.1:50053",
    )
    environ = {
        **insecure,
        "ANNEAL_EMBEDDING_ADDR": "embedding:50052",
        "ANNEAL_SEARCH_ADDR": "search:50053",
    }
    values = RetrievalSettings.read(["--call-timeout", "2.5"], environ)
    assert (values.embedding_addr, values.search_addr, values.call_timeout) == (
        "embedding:50052",
        "search:50053",
        2.5,
    )
