"""Resolved labels of every round up to N in one call: the label service answers the union of the
per-round calls (withdrawn and re-answered answers resolved the same way), and the coordinator
and selection read earlier rounds with one GetResolvedLabels call (counted by the service's
``grpc_server_handled_total``)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.coordinator.downstream import Downstream
from services.labels.metrics import COLLECTORS
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.server_security import ServerSecurity
from services.selection.label_client import LabelClient

REGISTRY = grpc_service_registry(COLLECTORS)
ROUNDS = {
    1: [("a", "b"), ("a", "c"), ("b", "c")],
    2: [("a", "d"), ("c", "d")],
    3: [("b", "d")],
}


def lab(key: str, round_number: int, pair_id: int, similar: bool, annotator: str) -> pb.Label:
    return pb.Label(
        round=round_number,
        pair_id=pair_id,
        similar=similar,
        annotator_id=annotator,
        idempotency_key=key,
    )


@pytest.fixture
def channel(tmp_path: Path, serve) -> grpc.Channel:
    """Three rounds answered by hand (resolutions worked out below)."""
    channel = serve(
        create_server(
            "127.0.0.1:0", LabelStore(tmp_path / "labels.db"), security=ServerSecurity.insecure()
        )
    )
    stub = labels_pb2_grpc.LabelServiceStub(channel)
    for number, pairs in ROUNDS.items():
        stub.OpenRound(
            pb.OpenRoundRequest(
                round=number, pairs=[pb.ImagePair(image_a=a, image_b=b) for a, b in pairs]
            )
        )
    stub.SubmitLabels(
        pb.SubmitLabelsRequest(
            labels=[
                # Round 1, (a, b): similar, dissimilar, similar -> similar 2:1.
                lab("1ab-1", 1, 0, True, "ann1"),
                lab("1ab-2", 1, 0, False, "ann2"),
                lab("1ab-3", 1, 0, True, "ann3"),
                # (a, c): similar, withdrawn below, then answered again dissimilar -> 0:1.
                lab("1ac-1", 1, 1, True, "ann1"),
                # (b, c): its only answer withdrawn below -> not listed.
                lab("1bc-1", 1, 2, True, "ann1"),
                # Round 2, (a, d): dissimilar first, then similar -> tie -> earliest: dissimilar.
                lab("2ad-1", 2, 0, False, "ann1"),
                lab("2ad-2", 2, 0, True, "ann2"),
                # Round 3, (b, d): similar 1:0.
                lab("3bd-1", 3, 0, True, "ann1"),
            ]
        )
    )
    for key in ("1ac-1", "1bc-1"):
        stub.WithdrawLabel(
            pb.WithdrawLabelRequest(round=1, idempotency_key=key, annotator_id="ann1")
        )
    stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[lab("1ac-2", 1, 1, False, "ann1")]))
    return channel


def rows(reply: pb.GetResolvedLabelsResponse) -> list[tuple[int, str, str, bool, int, int]]:
    return [
        (r.round, r.pair.image_a, r.pair.image_b, r.similar, r.votes_similar, r.votes_dissimilar)
        for r in reply.labels
    ]


def resolved_calls() -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_handled_total",
        {
            "grpc_service": "anneal.labels.v1.LabelService",
            "grpc_method": "GetResolvedLabels",
            "grpc_code": "OK",
        },
    )
    return value or 0.0


def test_up_to_round_is_the_union_of_the_per_round_calls(channel: grpc.Channel) -> None:
    stub = labels_pb2_grpc.LabelServiceStub(channel)
    up_to_2 = rows(stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(up_to_round=2)))
    assert up_to_2 == [
        (1, "a", "b", True, 2, 1),
        (1, "a", "c", False, 0, 1),
        (2, "a", "d", False, 1, 1),
    ]
    per_round = [
        row
        for number in (1, 2)
        for row in rows(stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=number)))
    ]
    assert up_to_2 == per_round
    # Rounds the store does not hold (4 to 10) add nothing.
    up_to_10 = rows(stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(up_to_round=10)))
    assert up_to_10 == [*up_to_2, (3, "b", "d", True, 1, 0)]


@pytest.mark.parametrize(
    "request_", [pb.GetResolvedLabelsRequest(), pb.GetResolvedLabelsRequest(round=1, up_to_round=2)]
)
def test_neither_or_both_of_round_and_up_to_round_is_refused(
    channel: grpc.Channel, request_: pb.GetResolvedLabelsRequest
) -> None:
    stub = labels_pb2_grpc.LabelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetResolvedLabels(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "set either round (one round) or up_to_round" in (info.value.details() or "")


EXPECTED_1_3 = [("a", "b", True), ("a", "c", False), ("b", "d", True)]
"""Rounds 1 and 3 (not 2): what both callers get for ``[1, 3]``."""


def test_selection_reads_earlier_rounds_with_one_call(channel: grpc.Channel) -> None:
    before = resolved_calls()
    assert LabelClient(channel).resolved([3, 1], timeout_s=10) == EXPECTED_1_3
    assert resolved_calls() - before == 1
    assert LabelClient(channel).resolved([], timeout_s=10) == []
    assert resolved_calls() - before == 1


def test_coordinator_reads_the_training_rounds_with_one_call(channel: grpc.Channel) -> None:
    downstream = Downstream(channel, channel, channel, None)
    before = resolved_calls()
    assert downstream.answers([1, 3]) == EXPECTED_1_3
    assert resolved_calls() - before == 1
