"""Regressions of issue 9's clean replies, each on a real server on loopback: malformed messages,
page tokens the server never issued, vectors whose scores would overflow, empty and huge ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from search_helpers import IDS, VECTORS, build_stream

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.metrics import GRPC_COLLECTORS, metrics_registry
from services.common.shown import cleaned, is_clean, shown
from services.labels.server import create_server as labels_server
from services.labels.store import LabelStore
from services.retrieval.search_client import SearchClient
from services.retrieval.server import create_server as retrieval_server
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.retry import RetryPolicy
from services.search.server import create_server as search_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

INSECURE = ServerSecurity.insecure()
Code = grpc.StatusCode
SUBMIT = "/anneal.labels.v1.LabelService/SubmitLabels"
BUILD = "/anneal.search.v1.SearchService/BuildIndex"
NOT_PROTOBUF = b"\xff\xff\xff\xff"
BAD_UTF8 = b"\x0a\x04\x2a\x02\xff\xfe"  # labels { annotator_id: <0xff 0xfe> } of SubmitLabels


def _identity(data: bytes) -> bytes:
    return data


GRPC_REGISTRY = metrics_registry(GRPC_COLLECTORS)


def handled(method: str, code: str) -> float:
    labels = {
        "grpc_service": method.strip("/").rpartition("/")[0],
        "grpc_method": method.rpartition("/")[2],
        "grpc_code": code,
    }
    return GRPC_REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def refusal(call, *args) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    return info.value


@pytest.fixture
def labels(serve, tmp_path: Path) -> Iterator[grpc.Channel]:
    store = LabelStore(tmp_path / "labels.db")
    yield serve(labels_server("127.0.0.1:0", store, security=INSECURE))
    store.close()


@pytest.fixture
def search_channel(serve, tmp_path: Path) -> Iterator[grpc.Channel]:
    """A search server serving IDS / VECTORS as index version 1."""
    manager = IndexManager.open(
        str(tmp_path / "milvus.db"), IndexConfig(), RetryPolicy(attempts=2, delay_s=0.01)
    )
    channel = serve(search_server("127.0.0.1:0", manager, security=INSECURE))
    search_pb2_grpc.SearchServiceStub(channel).BuildIndex(build_stream(1, IDS, VECTORS, swap=True))
    yield channel
    manager.close(timeout_s=5)


@pytest.fixture
def search(search_channel: grpc.Channel) -> search_pb2_grpc.SearchServiceStub:
    return search_pb2_grpc.SearchServiceStub(search_channel)


@pytest.mark.parametrize("data", [NOT_PROTOBUF, BAD_UTF8], ids=["not-protobuf", "bad-utf8"])
def test_malformed_unary_request_is_invalid_argument_and_counted(
    labels: grpc.Channel, data: bytes
) -> None:
    before = handled(SUBMIT, "INVALID_ARGUMENT")
    error = refusal(labels.unary_unary(SUBMIT, _identity, _identity), data)
    assert error.code() is Code.INVALID_ARGUMENT
    assert "request is not a valid anneal.labels.v1.SubmitLabelsRequest message" in (
        error.details() or ""
    )
    assert handled(SUBMIT, "INVALID_ARGUMENT") == before + 1


def test_malformed_message_in_a_request_stream_is_invalid_argument_and_counted(
    search_channel: grpc.Channel,
) -> None:
    search = search_pb2_grpc.SearchServiceStub(search_channel)
    first = next(build_stream(2, IDS, VECTORS)).SerializeToString()
    before = handled(BUILD, "INVALID_ARGUMENT")
    error = refusal(
        search_channel.stream_unary(BUILD, _identity, _identity), iter([first, NOT_PROTOBUF])
    )
    assert error.code() is Code.INVALID_ARGUMENT
    assert "not a valid anneal.search.v1.BuildIndexRequest message" in (error.details() or "")
    assert handled(BUILD, "INVALID_ARGUMENT") == before + 1
    info = search.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    assert info.version == 1  # nothing was built


@pytest.mark.parametrize("token", ["99999999999999999999999", "9223372036854775808", "²", "-1"])
def test_page_token_not_issued_is_invalid_argument(labels: grpc.Channel, token: str) -> None:
    stub = labels_pb2_grpc.LabelServiceStub(labels)
    error = refusal(stub.ListLabels, labels_pb2.ListLabelsRequest(page_token=token))
    assert error.code() is Code.INVALID_ARGUMENT
    assert "is not one this server issued" in (error.details() or "")


def test_largest_page_token_a_server_can_issue_is_taken(labels: grpc.Channel) -> None:
    stub = labels_pb2_grpc.LabelServiceStub(labels)
    pair = labels_pb2.ImagePair(image_a="a", image_b="b")
    stub.OpenRound(labels_pb2.OpenRoundRequest(round=1, pairs=[pair]))
    reply = stub.ListLabels(labels_pb2.ListLabelsRequest(round=1, page_token=str(2**63 - 1)))
    assert list(reply.labels) == []


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ([3e38] * 4, "over the limit"),  # finite in float32, but its norm and scores are not
        ([float("nan"), 0, 0, 0], "NaN or infinity"),
        ([float("inf"), 0, 0, 0], "NaN or infinity"),
    ],
    ids=["3e38", "nan", "inf"],
)
def test_overflowing_or_non_finite_vectors_are_refused_everywhere(
    search: search_pb2_grpc.SearchServiceStub, serve, values: list[float], says: str
) -> None:
    query = search_pb2.SearchRequest(vectors=[search_pb2.Vector(values=values)], k=2)
    error = refusal(search.Search, query)
    assert (error.code(), says in (error.details() or "")) == (Code.INVALID_ARGUMENT, True)
    rows = VECTORS.copy()
    rows[2] = values
    error = refusal(search.BuildIndex, build_stream(2, IDS, rows))
    assert error.code() is Code.INVALID_ARGUMENT
    assert f"vector of image {IDS[2]!r}" in (error.details() or "")
    nowhere = grpc.insecure_channel("127.0.0.1:1")
    retrieval = retrieval_pb2_grpc.RetrievalServiceStub(
        serve(retrieval_server("127.0.0.1:0", nowhere, SearchClient(nowhere), security=INSECURE))
    )
    request = retrieval_pb2.RetrieveRequest(
        query=retrieval_pb2.Query(vector=retrieval_pb2.Vector(values=values)), k=2
    )
    error = refusal(retrieval.Retrieve, request)
    assert (error.code(), says in (error.details() or "")) == (Code.INVALID_ARGUMENT, True)
    nowhere.close()


def test_largest_vector_below_the_limit_scores_finitely(
    search: search_pb2_grpc.SearchServiceStub,
) -> None:
    query = search_pb2.SearchRequest(vectors=[search_pb2.Vector(values=[4e18] * 4)], k=1)
    (hits,) = search.Search(query).results
    assert hits.hits[0].score == pytest.approx(4e18 * 1.4, rel=1e-3)  # b: 0.8 + 0.6


def test_empty_id_is_invalid_argument_in_search_and_get_vector(
    search: search_pb2_grpc.SearchServiceStub,
) -> None:
    error = refusal(search.Search, search_pb2.SearchRequest(image_ids=[""], k=1))
    assert (error.code(), error.details()) == (
        Code.INVALID_ARGUMENT,
        "image_id is empty; name an image of the index",
    )
    error = refusal(search.GetVector, search_pb2.GetVectorRequest(image_id=""))
    assert error.code() is Code.INVALID_ARGUMENT


def test_huge_ids_are_quoted_with_a_bound(
    search: search_pb2_grpc.SearchServiceStub, labels: grpc.Channel
) -> None:
    huge = "x" * 10_000
    error = refusal(search.GetVector, search_pb2.GetVectorRequest(image_id=huge))
    assert error.code() is Code.NOT_FOUND
    assert "'" + "x" * 64 + "'…(10000 chars)" in (error.details() or "")
    assert len(error.details() or "") < 300
    stub = labels_pb2_grpc.LabelServiceStub(labels)
    error = refusal(stub.ListLabels, labels_pb2.ListLabelsRequest(page_token=huge))
    assert len(error.details() or "") < 300


def test_shown_quotes_short_text_whole_and_long_text_cut() -> None:
    assert shown("a/b.png") == "'a/b.png'"
    assert shown("ab\ncd", limit=3) == "'ab\\n'…(5 chars)"


def test_cleaned_drops_object_reprs_tracebacks_and_bounds_length() -> None:
    message = "cannot identify image file <_io.BytesIO object at 0x7f3a2c1b9e50>"
    assert cleaned(message) == "cannot identify image file <_io.BytesIO>"
    assert cleaned('failed\nTraceback (most recent call last):\n  File "/x/y.py"') == (
        "failed (details in the server log)"
    )
    assert len(cleaned("y" * 5000)) <= 1000
    assert not is_clean(message)
    assert is_clean(cleaned(message))
