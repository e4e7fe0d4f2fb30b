"""The label service over real gRPC on loopback: each RPC, each refusal's status code, health,
reflection and metrics; withdrawals, and on a secured server that they and the caller's own
progress go by the token's identity."""

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

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.common.server import AnnealServer
from services.labels.metrics import COLLECTORS
from services.labels.records import ImagePair
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.security.tokens import create_token

SERVICE = "anneal.labels.v1.LabelService"
Serve = Callable[[tuple[AnnealServer, int]], grpc.Channel]

INSECURE = ServerSecurity.insecure()
LABELS_REGISTRY = grpc_service_registry(COLLECTORS)


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


def test_withdraw_round_trip(stub: labels_pb2_grpc.LabelServiceStub) -> None:
    # Pair 0: ann1 similar (k1), then ann2 dissimilar (k2): tie, the earliest wins -> similar.
    stub.SubmitLabels(
        pb.SubmitLabelsRequest(labels=[lab("k1"), lab("k2", similar=False, annotator="ann2")])
    )
    reply = stub.WithdrawLabel(
        pb.WithdrawLabelRequest(round=1, idempotency_key="k1", annotator_id="ann1")
    )
    assert reply.withdrawn
    withdrawn = reply.label
    assert (withdrawn.idempotency_key, withdrawn.annotator_id, withdrawn.pair.pair_id) == (
        "k1",
        "ann1",
        0,
    )
    assert withdrawn.similar and withdrawn.withdrawn_at_unix_ms >= withdrawn.created_at_unix_ms > 0

    # k1 no longer counts: ann2's dissimilar alone decides pair 0.
    [resolved] = stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1)).labels
    assert (resolved.similar, resolved.votes_similar, resolved.votes_dissimilar) == (False, 0, 1)
    progress = stub.GetRoundProgress(pb.GetRoundProgressRequest(round=1))
    assert (progress.labelled_pairs, progress.labels, progress.annotators) == (1, 1, 1)
    assert progress.your_labels == 0  # no access control: nobody is "you"
    listed = stub.ListLabels(pb.ListLabelsRequest(round=1)).labels
    assert [x.idempotency_key for x in listed] == ["k2"]
    everything = stub.ListLabels(pb.ListLabelsRequest(round=1, include_withdrawn=True)).labels
    assert [(x.idempotency_key, x.withdrawn_at_unix_ms) for x in everything] == [
        ("k1", withdrawn.withdrawn_at_unix_ms),
        ("k2", 0),
    ]

    # Withdrawing again is a safe retry: the same label, nothing changed.
    retry = stub.WithdrawLabel(
        pb.WithdrawLabelRequest(round=1, idempotency_key="k1", annotator_id="ann1")
    )
    assert not retry.withdrawn and retry.label == withdrawn

    # The withdrawn key is spent; a new key answers the pair again.
    with pytest.raises(grpc.RpcError) as caught:
        stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k1")]))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "withdrawn" in (caught.value.details() or "")
    again = stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k3", similar=False)]))
    assert again.results[0].outcome == pb.SUBMIT_OUTCOME_ACCEPTED
    [resolved] = stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1)).labels
    assert (resolved.similar, resolved.votes_similar, resolved.votes_dissimilar) == (False, 0, 2)

    # ann2 withdraws too, then ann1: pair 0 is pending again.
    for key, annotator in (("k2", "ann2"), ("k3", "ann1")):
        stub.WithdrawLabel(
            pb.WithdrawLabelRequest(round=1, idempotency_key=key, annotator_id=annotator)
        )
    pending = stub.ListPairs(pb.ListPairsRequest(round=1, only_unlabelled=True)).pairs
    assert [p.pair_id for p in pending] == [0, 1]
    assert list(stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1)).labels) == []

    # Without access control an empty annotator_id is "anonymous", in both RPCs.
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k4", pair_id=1, annotator="")]))
    anonymous = stub.WithdrawLabel(pb.WithdrawLabelRequest(round=1, idempotency_key="k4"))
    assert anonymous.withdrawn and anonymous.label.annotator_id == "anonymous"
    assert stub.GetRoundProgress(pb.GetRoundProgressRequest(round=1)).labels == 0
    assert len(stub.ListLabels(pb.ListLabelsRequest(round=1, include_withdrawn=True)).labels) == 4


Call = Callable[[labels_pb2_grpc.LabelServiceStub], object]


def submit(*labels: pb.Label) -> Call:
    return lambda stub: stub.SubmitLabels(pb.SubmitLabelsRequest(labels=list(labels)))


def withdraw(key: str, round: int = 1, annotator: str = "ann1") -> Call:
    request = pb.WithdrawLabelRequest(round=round, idempotency_key=key, annotator_id=annotator)
    return lambda stub: stub.WithdrawLabel(request)


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
    ("withdraw round 0", withdraw("old", round=0), grpc.StatusCode.INVALID_ARGUMENT, ">= 1"),
    ("withdraw no key", withdraw(""), grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key is empty"),
    (
        "withdraw unknown round",
        withdraw("old", round=7),
        grpc.StatusCode.NOT_FOUND,
        "round 7 does not exist",
    ),
    (
        "withdraw unknown key",
        withdraw("nope"),
        grpc.StatusCode.NOT_FOUND,
        "^annotator 'ann1' has no answer with idempotency key 'nope' in round 1$",
    ),
    (
        "withdraw another's answer",
        withdraw("old", annotator="ann2"),
        grpc.StatusCode.NOT_FOUND,
        "^annotator 'ann2' has no answer with idempotency key 'old' in round 1$",
    ),
    (
        "withdraw in closed round",
        withdraw("old3", round=3),
        grpc.StatusCode.FAILED_PRECONDITION,
        "round 3 is closed; its answers can no longer be withdrawn",
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
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("old3", round=3)]))
    stub.CloseRound(pb.CloseRoundRequest(round=3))

    def everything() -> list[pb.ListLabelsResponse]:
        return [
            stub.ListLabels(pb.ListLabelsRequest(round=r, include_withdrawn=True)) for r in (1, 3)
        ]

    before = everything()
    with pytest.raises(grpc.RpcError) as caught:
        call(stub)
    assert caught.value.code() == code
    assert caught.value.details() is not None
    assert re.search(message, caught.value.details()), caught.value.details()
    assert everything() == before
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
    return LABELS_REGISTRY.get_sample_value(name, labels or {}) or 0.0


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


def test_a_pair_answered_withdrawn_and_answered_again_is_labelled_once(
    stub: labels_pb2_grpc.LabelServiceStub,
) -> None:
    ok = {"grpc_service": SERVICE, "grpc_method": "WithdrawLabel", "grpc_code": "OK"}
    withdrawals, pairs = (
        sample("grpc_server_handled_total", ok),
        sample("anneal_labelled_pairs_total"),
    )
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k1")]))
    stub.WithdrawLabel(pb.WithdrawLabelRequest(round=1, idempotency_key="k1", annotator_id="ann1"))
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k2")]))  # ann1 again
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("k3", annotator="ann2")]))
    assert sample("anneal_labelled_pairs_total") == pairs + 1  # pair 0, the first time only
    assert sample("grpc_server_handled_total", ok) == withdrawals + 1


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


WITHDRAW = f"/{SERVICE}/WithdrawLabel"


@pytest.mark.integration
def test_on_a_secured_server_you_withdraw_and_count_only_your_own_answers(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two annotators, alice and bob, with their own tokens; an annotator token named like a
    service ("selection") shows that a service caller's your_labels is 0 by its role."""
    local = LocalSecurity.of(tmp_path / "state")
    local.ensure(["127.0.0.1"])
    tokens = {
        name: create_token(local.tokens_file, name, Role.ANNOTATOR)[0]
        for name in ("alice", "bob", "selection")
    }
    store = LabelStore(tmp_path / "labels.db")
    store.open_round(1, [ImagePair.canonical("a", "b"), ImagePair.canonical("c", "d")])
    security = ServerSecurity(
        tls=local.service_tls("labels"), tokens=TokenVerifier(local.tokens_file)
    )
    built = create_server("127.0.0.1:0", store, security=security)
    service = labels_pb2_grpc.LabelServiceStub(
        serve(built, ChannelSecurity.for_service(local.service_tls("selection")), internal=True)
    )
    address = f"127.0.0.1:{built[1]}"
    channels = {
        name: ChannelSecurity(ca=local.ca.read_bytes(), token=token).channel(address)
        for name, token in tokens.items()
    }
    channels["reader"] = local.client(Role.READER).channel(address)
    try:
        alice, bob, selection, reader = (
            labels_pb2_grpc.LabelServiceStub(channels[name])
            for name in ("alice", "bob", "selection", "reader")
        )

        def answer(
            stub: labels_pb2_grpc.LabelServiceStub, key: str, pair_id: int, similar: bool
        ) -> None:
            label = pb.Label(round=1, pair_id=pair_id, similar=similar, idempotency_key=key)
            stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[label]), timeout=5)

        def yours(stub: labels_pb2_grpc.LabelServiceStub) -> tuple[int, int]:
            progress = stub.GetRoundProgress(pb.GetRoundProgressRequest(round=1), timeout=5)
            return progress.labels, progress.your_labels

        def resolved_pair_0() -> tuple[bool, int, int]:
            reply = service.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1), timeout=5)
            first = reply.labels[0]
            assert first.pair.pair_id == 0
            return first.similar, first.votes_similar, first.votes_dissimilar

        def refused(
            stub: labels_pb2_grpc.LabelServiceStub, key: str, annotator: str = ""
        ) -> grpc.RpcError:
            request = pb.WithdrawLabelRequest(round=1, idempotency_key=key, annotator_id=annotator)
            with pytest.raises(grpc.RpcError) as caught:
                stub.WithdrawLabel(request, timeout=5)
            return caught.value

        # Pair 0: alice similar, then bob dissimilar (a tie: alice's, the earliest, wins).
        # Pair 1: alice similar, "selection" similar.
        answer(alice, "a0", 0, True)
        answer(alice, "a1", 1, True)
        answer(bob, "b0", 0, False)
        answer(selection, "s1", 1, True)
        assert [yours(stub) for stub in (alice, bob, selection, reader, service)] == [
            (4, 2),
            (4, 1),
            (4, 1),  # the annotator named "selection"
            (4, 0),  # a reader has given no answers
            (4, 0),  # the selection service (certificate): 0 by its role
        ]

        # bob cannot withdraw alice's answer, and learns nothing of it.
        theirs = refused(bob, "a0")
        assert theirs.code() is grpc.StatusCode.NOT_FOUND
        assert (
            theirs.details() == "annotator 'bob' has no answer with idempotency key 'a0' in round 1"
        )
        nobodys = refused(bob, "zz")
        assert nobodys.code() is grpc.StatusCode.NOT_FOUND
        assert nobodys.details() == (theirs.details() or "").replace("'a0'", "'zz'")
        impostor = refused(bob, "a0", annotator="alice")
        assert impostor.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "names annotator 'alice' but you are 'bob'" in (impostor.details() or "")
        assert yours(alice) == (4, 2) and resolved_pair_0() == (True, 1, 1)

        # alice withdraws her own (audited: it changes stored answers).
        caplog.set_level("INFO", logger="anneal.audit")
        reply = alice.WithdrawLabel(
            pb.WithdrawLabelRequest(round=1, idempotency_key="a0"), timeout=5
        )
        assert reply.withdrawn and reply.label.annotator_id == "alice"
        actions = [r for r in caplog.records if getattr(r, "audit", "") == "action"]
        assert [(r.method, r.caller, r.code, r.request) for r in actions] == [
            (WITHDRAW, "alice", "OK", {"round": 1, "idempotency_key": "a0"})
        ]
        assert [yours(stub) for stub in (alice, bob)] == [(3, 1), (3, 1)]
        assert resolved_pair_0() == (False, 0, 1)
        answer(alice, "a0-again", 0, True)  # and may answer again
        # A tie again, and now bob's answer is the earliest of the two that count.
        assert yours(alice) == (4, 2) and resolved_pair_0() == (False, 1, 1)
        # An annotator's withdrawal of bob's answer is still refused after alice's own went through.
        assert refused(alice, "b0").code() is grpc.StatusCode.NOT_FOUND
    finally:
        for channel in channels.values():
            channel.close()
