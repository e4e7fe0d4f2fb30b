"""The Coordinator with its worker thread over a fake RoundWork: readiness, StartRound waiting for
the selection, CloseRound, a selection refusal returned to the caller, a failed preparation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from round_fakes import ROUND0, FakeWork, Status

from services.cli.restart_policy import RestartPolicy
from services.common.errors import FailedPreconditionError
from services.coordinator.coordinator import Coordinator
from services.coordinator.round_status import RoundState
from services.coordinator.round_work import RoundWork
from services.coordinator.state_store import StateStore
from services.coordinator.step_backoff import StepBackoff

NO_WAIT = RestartPolicy(initial_backoff_s=0.0, max_backoff_s=0.0, max_crashes=3)


def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def coordinator_on(folder: Path, prepare: Callable[[], RoundWork]) -> Coordinator:
    return Coordinator(
        StateStore(folder), prepare, poll_s=0.01, reconcile_s=0.05, backoff=StepBackoff(NO_WAIT)
    )


@pytest.fixture
def work(tmp_path: Path) -> FakeWork:
    return FakeWork(tmp_path)


@pytest.fixture
def started(tmp_path: Path, work: FakeWork) -> Iterator[Coordinator]:
    coordinator = coordinator_on(tmp_path / "coordinator", lambda: work)
    coordinator.start()
    until(lambda: "reconcile" in work.calls)
    yield coordinator
    coordinator.stop(timeout_s=5)


def test_start_round_is_refused_until_the_archive_is_indexed(
    tmp_path: Path, work: FakeWork
) -> None:
    coordinator = coordinator_on(tmp_path / "coordinator", lambda: work)
    with pytest.raises(FailedPreconditionError, match="not ready: preparing the archive"):
        coordinator.start_round("random", 4, 1, True, timeout_s=1)
    coordinator.start()
    try:
        until(lambda: coordinator.serving() == ROUND0)
        assert StateStore(tmp_path / "coordinator").load().serving == ROUND0
    finally:
        coordinator.stop(timeout_s=5)


def test_start_round_returns_once_selected_and_close_round_ends_collection(
    started: Coordinator, work: FakeWork
) -> None:
    status = started.start_round("random", 4, 1, False, timeout_s=5)
    assert (status.round, status.state, status.pairs) == (1, RoundState.COLLECTING, 4)
    with pytest.raises(FailedPreconditionError, match="round 1 is still collecting"):
        started.start_round("random", 4, 1, False, timeout_s=5)
    work.labelled = 2
    until(lambda: started.rounds()[0].labelled_pairs == 2)
    started.close_round(1)
    until(lambda: started.rounds()[0].state.finished)
    done = started.status(1)
    assert done is not None and done.state is RoundState.DONE, done
    assert started.serving().index_version == 2
    assert work.calls.count("close_labels") == 2  # by CloseRound at once, by COLLECTING's end


def test_a_selection_refusal_reaches_start_round_with_its_status(
    started: Coordinator, work: FakeWork
) -> None:
    work.fail["select"] = [Status(grpc.StatusCode.INVALID_ARGUMENT, "budget too large")]
    with pytest.raises(grpc.RpcError) as refused:
        started.start_round("random", 4, 1, True, timeout_s=5)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    failed = started.status(1)
    assert failed is not None and failed.state is RoundState.FAILED


def test_a_failed_preparation_says_why_rounds_cannot_start(tmp_path: Path) -> None:
    def broken() -> RoundWork:
        raise OSError("archive folder /data/ucm is empty")

    coordinator = coordinator_on(tmp_path / "coordinator", broken)
    coordinator.start()
    try:

        def refusal() -> str:
            with pytest.raises(FailedPreconditionError) as refused:
                coordinator.start_round("random", 4, 1, True, timeout_s=1)
            return str(refused.value)

        until(lambda: "preparing the archive failed" in refusal())
        assert refusal() == (
            "the coordinator is not ready: preparing the archive failed: archive folder"
            " /data/ucm is empty; fix it and restart; retry shortly"
        )
        assert coordinator.rounds() == []
    finally:
        coordinator.stop(timeout_s=5)
