"""The label service over real gRPC on loopback: each RPC, each refusal's status code, health,
reflection and metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client import REGISTRY

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.common.server import AnnealServer
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.server_security import ServerSecurity

SERVICE = "anneal.labels.v1.LabelService"
Serve = Callable[[tuple[AnnealServer, int]], grpc.Channel]

INSECURE = ServerSecurity.insecure()


@pytest.fixture
def channel(tmp_path: Path, serve: Serve) -> grpc.Channel:
    return serve(
        create_server("127.0.0.1:0", LabelStore(tmp_path / "labels.db"), security=INSECURE)
    )


@pytest.fixture
def stub(channel: grpc.Channel) -> labels_pb2_grpc.LabelServiceStub:
    stub = labels_pb2_grpc.LabelServiceStub(channel)
    stub.OpenRound(
        pb.OpenRoundRequest(
            round=1,
            pairs=[pb.ImagePair(image_a="b", image_b="a"), pb.ImagePair(image_a="c", image_b="d")],
        )
    )
    return stub


def lab(
    key: str, pair_id: int = 0, similar: bool = True, annotator: str = "ann1", round: int = 1
) -> pb.Label:
    return pb.Label(
        round=round, pair_id=pair_id, similar=similar, annotator_id=annotator, idempotency_key=key
    )


def test_round_trip(stub: labels_pb2_grpc.LabelServiceStub) -> None:
    opened = stub.OpenRound(
        pb.OpenRoundRequest(
            round=1,
            pairs=[pb.ImagePair(image_a="a", image_b="b"), pb.ImagePair(image_a="d", image_b="c")],
        )
    )
    assert not opened.created
    assert [(p.pair_id, p.image_a, p.image_b) for p in opened.pairs] == [
        (0, "a", "b"),
        (1, "c", "d"),
    ]

    by_images = pb.Label(
        round=1,
        images=pb.ImagePair(image_a="d", image_b="c"),
        similar=False,
        annotator_id="ann1",
        idempotency_key="k2",
    )
    reply = stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k1"), by_images]))
    assert [r.outcome for r in reply.results] == [pb.SUBMIT_OUTCOME_ACCEPTED] * 2
    assert [r.pair.pair_id for r in reply.results] == [0, 1]
    again = stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k1")]))
    assert again.results[0].outcome == pb.SUBMIT_OUTCOME_DUPLICATE

    stub.SubmitLabels(
        pb.SubmitLabelsRequest(labels=[lab("k3", pair_id=1, similar=True, annotator="ann2")])
    )
    page = stub.ListLabels(pb.ListLabelsRequest(round=1, page_size=2))
    assert [x.idempotency_key for x in page.labels] == ["k1", "k2"]
    rest = stub.ListLabels(
        pb.ListLabelsRequest(round=1, page_size=2, page_token=page.next_page_token)
    )
    assert [x.idempotency_key for x in rest.labels] == ["k3"] and rest.next_page_token == ""

    # Pair 1: ann1 dissimilar first, ann2 similar -> tie -> earliest answer: dissimilar.
    resolved = stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1))
    assert [
        (r.pair.pair_id, r.similar, r.votes_similar, r.votes_dissimilar) for r in resolved.labels
    ] == [
        (0, True, 1, 0),
        (1, False, 1, 1),
    ]
    progress = stub.GetRoundProgress(pb.GetRoundProgressRequest(round=1))
    assert (progress.state, progress.pairs, progress.labelled_pairs, progress.labels) == (
        pb.ROUND_STATE_OPEN,
        2,
        2,
        3,
    )
    assert (progress.annotators, progress.disagreements) == (2, 1)

    stub.OpenRound(pb.OpenRoundRequest(round=2, pairs=[pb.ImagePair(image_a="a", image_b="c")]))
    assert len(stub.ListPairs(pb.ListPairsRequest(round=2, only_unlabelled=True)).pairs) == 1
    assert stub.CloseRound(pb.CloseRoundRequest(round=1)).closed
    assert not stub.CloseRound(pb.CloseRoundRequest(round=1)).closed
    assert stub.GetRoundProgress(pb.GetRoundProgressRequest(round=1)).state == pb.ROUND_STATE_CLOSED


Call = Callable[[labels_pb2_grpc.LabelServiceStub], object]


def submit(*labels: pb.Label) -> Call:
    return lambda stub: stub.SubmitLabels(pb.SubmitLabelsRequest(labels=list(labels)))


BAD_CALLS: list[tuple[str, Call, grpc.StatusCode, str]] = [
    ("no labels", submit(), grpc.StatusCode.INVALID_ARGUMENT, "1 to 1000 labels"),
    ("round 0", submit(lab("n", round=0)), grpc.StatusCode.INVALID_ARGUMENT, "round must be >= 1"),
    (
        "no pair",
        submit(pb.Label(round=1, annotator_id="a", idempotency_key="n")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "name the pair",
    ),
    (
        "one image twice",
        submit(
            pb.Label(
                round=1,
                images=pb.ImagePair(image_a="a", image_b="a"),
                annotator_id="a",
                idempotency_key="n",
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "two different images",
    ),
    ("no key", submit(lab("")), grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key is empty"),
    (
        "key twice in call",
        submit(lab("n"), lab("n", pair_id=1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "also used",
    ),
    (
        "unknown round",
        submit(lab("n", round=7)),
        grpc.StatusCode.NOT_FOUND,
        "round 7 does not exist",
    ),
    (
        "pair id not in round",
        submit(lab("n", pair_id=2)),
        grpc.StatusCode.NOT_FOUND,
        "has no pair 2",
    ),
    (
        "pair not in round",
        submit(
            pb.Label(
                round=1,
                images=pb.ImagePair(image_a="a", image_b="d"),
                annotator_id="a",
                idempotency_key="n",
            )
        ),
        grpc.StatusCode.NOT_FOUND,
        r"pair \(a, d\) is not in round 1",
    ),
    (
        "key reused",
        submit(lab("old", similar=False)),
        grpc.StatusCode.ALREADY_EXISTS,
        "different label",
    ),
    (
        "annotator again",
        submit(lab("n")),
        grpc.StatusCode.ALREADY_EXISTS,
        "already answered pair 0",
    ),
    (
        "closed round",
        submit(lab("n", round=3)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "round 3 is closed",
    ),
    (
        "reopen with other pairs",
        lambda s: s.OpenRound(
            pb.OpenRoundRequest(round=1, pairs=[pb.ImagePair(image_a="a", image_b="b")])
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "other pairs",
    ),
    (
        "open no pairs",
        lambda s: s.OpenRound(pb.OpenRoundRequest(round=4)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "1 to",
    ),
    (
        "open bad pair",
        lambda s: s.OpenRound(pb.OpenRoundRequest(round=4, pairs=[pb.ImagePair(image_a="x")])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "pair 0: image id is empty",
    ),
    (
        "close unknown",
        lambda s: s.CloseRound(pb.CloseRoundRequest(round=9)),
        grpc.StatusCode.NOT_FOUND,
        "round 9",
    ),
    (
        "list unknown",
        lambda s: s.ListLabels(pb.ListLabelsRequest(round=9)),
        grpc.StatusCode.NOT_FOUND,
        "round 9",
    ),
    (
        "bad page token",
        lambda s: s.ListLabels(pb.ListLabelsRequest(round=1, page_token="x")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    (
        "page too large",
        lambda s: s.ListLabels(pb.ListLabelsRequest(round=1, page_size=1001)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    (
        "progress unknown",
        lambda s: s.GetRoundProgress(pb.GetRoundProgressRequest(round=9)),
        grpc.StatusCode.NOT_FOUND,
        "round 9",
    ),
]


@pytest.mark.parametrize(
    ("call", "code", "message"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_gets_precise_code_and_changes_nothing(
    stub: labels_pb2_grpc.LabelServiceStub, call: Call, code: grpc.StatusCode, message: str
) -> None:
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("old")]))
    stub.OpenRound(pb.OpenRoundRequest(round=3, pairs=[pb.ImagePair(image_a="a", image_b="b")]))
    stub.CloseRound(pb.CloseRoundRequest(round=3))
    before = stub.ListLabels(pb.ListLabelsRequest(round=1))
    with pytest.raises(grpc.RpcError) as caught:
        call(stub)
    assert caught.value.code() == code
    assert caught.value.details() is not None
    assert re.search(message, caught.value.details()), caught.value.details()
    assert stub.ListLabels(pb.ListLabelsRequest(round=1)) == before
    assert [p.pair_id for p in stub.ListPairs(pb.ListPairsRequest(round=1)).pairs] == [0, 1]


def test_health_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as caught:
        health.Check(health_pb2.HealthCheckRequest(service="anneal.nope.v1.Nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {SERVICE, "grpc.health.v1.Health"} <= services
    method = database.FindFileContainingSymbol(SERVICE)
    assert method.package == "anneal.labels.v1"


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_metrics_count_calls_by_code(stub: labels_pb2_grpc.LabelServiceStub) -> None:
    ok = {"grpc_service": SERVICE, "grpc_method": "SubmitLabels", "grpc_code": "OK"}
    missing = {**ok, "grpc_code": "NOT_FOUND"}
    handled_ok, handled_missing = (
        sample("grpc_server_handled_total", ok),
        sample("grpc_server_handled_total", missing),
    )
    timed = sample("grpc_server_handling_seconds_count", ok)
    pairs = sample("anneal_labelled_pairs_total")

    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k1"), lab("k2", annotator="ann2")]))
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k3", pair_id=1)]))
    with pytest.raises(grpc.RpcError):
        stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k4", round=9)]))

    assert sample("grpc_server_handled_total", ok) == handled_ok + 2
    assert sample("grpc_server_handled_total", missing) == handled_missing + 1
    assert sample("grpc_server_handling_seconds_count", ok) == timed + 2
    assert sample("anneal_labelled_pairs_total") == pairs + 2  # pairs 0 and 1 got their first label


def test_metrics_record_cancelled_streams(channel: grpc.Channel) -> None:
    labels = {
        "grpc_service": "grpc.health.v1.Health",
        "grpc_method": "Watch",
        "grpc_code": "CANCELLED",
    }
    before = sample("grpc_server_handled_total", labels)
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=SERVICE)
    )
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    deadline = time.monotonic() + 5
    while sample("grpc_server_handled_total", labels) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sample("grpc_server_handled_total", labels) == before + 1
