"""The coordinator drives rounds end to end against real services on loopback.

Tiny archive (3 colour classes x 6 images), Milvus Lite, no embedding service (head mode
re-embeds from cached backbone features in the coordinator). A simulated annotator answers
from the class folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from round_helpers import Stack, answer, wait_for

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.coordinator.round_status import RoundState
from services.coordinator.state_store import StateStore
from services.labels.metrics import COLLECTORS as LABELS_COLLECTORS

pytestmark = pytest.mark.integration

STAGES = {"selection", "training", "embedding", "indexing", "swap"}
LABELS_REGISTRY = grpc_service_registry(LABELS_COLLECTORS)


def labelled_pairs_counted() -> float:
    return LABELS_REGISTRY.get_sample_value("anneal_labelled_pairs_total") or 0.0


def exports() -> float:
    """ExportVectors calls the search service answered (its grpc_server_handled_total)."""
    labels = {
        "grpc_service": "anneal.search.v1.SearchService",
        "grpc_method": "ExportVectors",
        "grpc_code": "OK",
    }
    return LABELS_REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


@pytest.fixture
def stack(serve, tmp_path: Path) -> Iterator[Stack]:
    built = Stack(serve, tmp_path)
    yield built
    built.close()


def serving(stack: Stack) -> search_pb2.GetIndexInfoResponse:
    return search_pb2_grpc.SearchServiceStub(stack.search).GetIndexInfo(
        search_pb2.GetIndexInfoRequest()
    )


def test_round_goes_through_every_state_then_resumes_after_restart(stack: Stack) -> None:
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
    # bootstrap: the archive is indexed with the round-0 model as index version 1
    wait_for(stub, lambda r: r.serving_index_version == 1)
    assert serving(stack).model_version == "round-0-d8"
    assert serving(stack).count == 18
    exported = exports()

    started = stub.StartRound(
        pb.StartRoundRequest(strategy="mgue", budget=6, seed=3, close_when_answered=True)
    ).status
    assert (started.round, started.state) == (1, pb.ROUND_STATE_COLLECTING)
    watch = stub.WatchStatus(pb.WatchStatusRequest())
    counted = labelled_pairs_counted()
    assert answer(stack, 1) == 6
    states = []
    for update in watch:
        states.append(update.round.state)
        if update.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED):
            watch.cancel()
            break
    done = stub.GetStatus(pb.GetStatusRequest(round=1))
    assert done.round.state == pb.ROUND_STATE_DONE, done.round.error
    assert states[-1] == pb.ROUND_STATE_DONE
    assert set(done.round.stage_seconds) >= STAGES
    assert done.round.labelled_pairs == 6
    assert labelled_pairs_counted() == counted + 6  # once, at the commit (not again by the round)
    assert (done.round.index_version, done.round.model_version) == (2, "round-1")
    assert 0.0 <= done.round.metrics["map@20"] <= 1.0
    assert (done.serving_index_version, serving(stack).version) == (2, 2)
    assert serving(stack).model_version == "round-1"

    # round 2 waits for CloseRound; the coordinator restarts while it collects labels
    stub.StartRound(pb.StartRoundRequest(strategy="random", budget=4, seed=1))
    assert answer(stack, 2, limit=2) == 2
    wait_for(stub, lambda r: r.round.labelled_pairs == 2)
    stack.stop_coordinator()
    stored = StateStore(stack.root / "state" / "coordinator").load()
    assert stored.latest is not None and stored.latest.state is RoundState.COLLECTING

    stub = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
    resumed = stub.GetStatus(pb.GetStatusRequest())
    assert (resumed.round.round, resumed.round.state) == (2, pb.ROUND_STATE_COLLECTING)
    closed = stub.CloseRound(pb.CloseRoundRequest(round=2)).status
    assert closed.state == pb.ROUND_STATE_COLLECTING
    final = wait_for(stub, lambda r: r.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED))
    assert final.round.state == pb.ROUND_STATE_DONE, final.round.error
    assert (final.round.index_version, serving(stack).version) == (3, 3)
    rounds = stub.ListRounds(pb.ListRoundsRequest()).rounds
    assert [(r.round, r.state) for r in rounds] == [
        (1, pb.ROUND_STATE_DONE),
        (2, pb.ROUND_STATE_DONE),
    ]
    # both rounds chose their pairs over the coordinator's files (versions 1 and 2), and after
    # the last swap the serving version's and the one before stay
    assert exports() == exported
    assert stack.embeddings.versions() == [2, 3]


def test_failed_round_keeps_the_previous_index_and_bad_calls_get_codes(stack: Stack) -> None:
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
    wait_for(stub, lambda r: r.serving_index_version == 1)

    def code_of(call, request) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.RpcError) as info:
            call(request)
        return info.value.code()

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(stub.StartRound, pb.StartRoundRequest(strategy="best", budget=4)) == invalid
    assert code_of(stub.StartRound, pb.StartRoundRequest(strategy="mgue", budget=0)) == invalid
    unknown_mode = pb.StartRoundRequest(strategy="mgue", budget=4, mode="fast")
    with pytest.raises(grpc.RpcError) as info:
        stub.StartRound(unknown_mode)
    assert info.value.code() == invalid
    assert "unknown training mode 'fast'; choose one of head, full" in (info.value.details() or "")
    no_full = pb.StartRoundRequest(strategy="mgue", budget=4, mode="full")  # started without it
    with pytest.raises(grpc.RpcError) as info:
        stub.StartRound(no_full)
    assert info.value.code() == invalid
    assert "this coordinator runs no 'full' rounds (it runs head)" in (info.value.details() or "")
    # more pairs than the candidate pool: selection refuses, the round is recorded as FAILED
    assert code_of(stub.StartRound, pb.StartRoundRequest(strategy="mgue", budget=5000)) == invalid
    failed = stub.GetStatus(pb.GetStatusRequest(round=1)).round
    assert failed.state == pb.ROUND_STATE_FAILED and "budget" in failed.error
    assert code_of(stub.GetStatus, pb.GetStatusRequest(round=9)) == grpc.StatusCode.NOT_FOUND
    assert code_of(stub.CloseRound, pb.CloseRoundRequest(round=9)) == grpc.StatusCode.NOT_FOUND
    closing_failed = pb.CloseRoundRequest(round=1)
    assert code_of(stub.CloseRound, closing_failed) == grpc.StatusCode.FAILED_PRECONDITION

    stub.StartRound(pb.StartRoundRequest(strategy="random", budget=3, seed=2))
    busy = pb.StartRoundRequest(strategy="random", budget=3)
    assert code_of(stub.StartRound, busy) == grpc.StatusCode.FAILED_PRECONDITION
    stub.CloseRound(pb.CloseRoundRequest(round=2))  # closed without a single label
    final = wait_for(stub, lambda r: r.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED))
    assert final.round.state == pb.ROUND_STATE_FAILED
    assert "without any labelled pair" in final.round.error
    assert (final.serving_index_version, serving(stack).version) == (1, 1)
