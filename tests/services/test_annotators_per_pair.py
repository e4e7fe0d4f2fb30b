"""A round's annotators_per_pair: given in StartRound (or by `anneal round start
--annotators-per-pair`), kept in the state file across a coordinator restart and reported by
ListRounds and GetStatus; 0 means 1, above 10 is INVALID_ARGUMENT; state files from before it
load as 1. The coordinator runs over a fake RoundWork, served on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from round_fakes import FakeWork

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.main import main
from services.coordinator.coordinator import Coordinator
from services.coordinator.round_status import CoordinatorState
from services.coordinator.server import create_server
from services.coordinator.state_store import StateStore
from services.security.local_setup import LocalSecurity
from services.security.server_security import ServerSecurity

Serve = Callable[..., grpc.Channel]


def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Served:
    """A coordinator over a fake RoundWork on ``folder``, ready for rounds, and its stub."""

    def __init__(self, serve: Serve, folder: Path, work: FakeWork) -> None:
        self.coordinator = Coordinator(StateStore(folder), lambda: work, poll_s=0.01)
        built = create_server("127.0.0.1:0", self.coordinator, security=ServerSecurity.insecure())
        self.target = f"127.0.0.1:{built[1]}"
        self.stub = coordinator_pb2_grpc.CoordinatorServiceStub(serve(built))
        calls = len(work.calls)
        self.coordinator.start()
        until(lambda: "reconcile" in work.calls[calls:])


@pytest.fixture
def work(tmp_path: Path) -> FakeWork:
    return FakeWork(tmp_path)


@pytest.fixture
def served(serve: Serve, tmp_path: Path, work: FakeWork) -> Iterator[Served]:
    started = Served(serve, tmp_path / "coordinator", work)
    yield started
    started.coordinator.stop(timeout_s=5)


def start(stub: coordinator_pb2_grpc.CoordinatorServiceStub, annotators: int) -> pb.RoundStatus:
    request = pb.StartRoundRequest(strategy="random", budget=4, annotators_per_pair=annotators)
    return stub.StartRound(request).status


def test_the_given_annotators_per_pair_is_reported_by_list_rounds_and_get_status(
    served: Served,
) -> None:
    assert start(served.stub, 3).annotators_per_pair == 3
    listed = served.stub.ListRounds(pb.ListRoundsRequest()).rounds
    assert [(r.round, r.annotators_per_pair) for r in listed] == [(1, 3)]
    assert served.stub.GetStatus(pb.GetStatusRequest()).round.annotators_per_pair == 3
    assert served.stub.GetStatus(pb.GetStatusRequest(round=1)).round.annotators_per_pair == 3


def test_annotators_per_pair_left_unset_is_1(served: Served) -> None:
    assert start(served.stub, 0).annotators_per_pair == 1
    assert served.stub.ListRounds(pb.ListRoundsRequest()).rounds[0].annotators_per_pair == 1


def test_11_annotators_per_pair_is_invalid_argument_and_opens_no_round(served: Served) -> None:
    with pytest.raises(grpc.RpcError) as info:
        start(served.stub, 11)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert "annotators_per_pair must be between 1 and 10 (0 in StartRound means 1), got 11" in (
        details
    )
    assert list(served.stub.ListRounds(pb.ListRoundsRequest()).rounds) == []


def test_annotators_per_pair_survives_a_coordinator_restart(
    serve: Serve, served: Served, tmp_path: Path, work: FakeWork
) -> None:
    start(served.stub, 4)
    served.coordinator.stop(timeout_s=5)
    saved = json.loads((tmp_path / "coordinator" / "state.json").read_text(encoding="utf-8"))
    assert saved["rounds"][0]["annotators_per_pair"] == 4
    again = Served(serve, tmp_path / "coordinator", work)
    try:
        listed = again.stub.ListRounds(pb.ListRoundsRequest()).rounds
        assert [(r.round, r.annotators_per_pair) for r in listed] == [(1, 4)]
    finally:
        again.coordinator.stop(timeout_s=5)


def test_a_state_file_from_before_annotators_per_pair_loads_its_rounds_as_1() -> None:
    old_round = {
        "round": 1,
        "strategy": "mgue",
        "budget": 4,
        "seed": 0,
        "close_when_answered": True,
        "mode": "head",
        "state": "done",
    }
    state = CoordinatorState.from_dict(
        {"serving": {"index_version": 2, "model_version": "round-1"}, "rounds": [old_round]}
    )
    assert state.rounds[0].annotators_per_pair == 1
    assert CoordinatorState.from_dict(state.to_dict()) == state


def test_round_start_sends_annotators_per_pair_and_round_status_shows_it(
    capsys: pytest.CaptureFixture[str], served: Served, tmp_path: Path
) -> None:
    LocalSecurity.of(tmp_path / "client").record_mode(insecure=True)
    local = ["--coordinator", served.target, "--state-dir", str(tmp_path / "client")]
    assert (
        main(["round", "start", "--strategy", "random", "--annotators-per-pair", "5", *local]) == 0
    )
    assert "5 annotator(s) per pair" in capsys.readouterr().out
    assert [r.annotators_per_pair for r in served.coordinator.rounds()] == [5]
    assert main(["round", "status", *local]) == 0
    table = capsys.readouterr().out
    assert "annotators/pair" in table and "│ head │ 5 " in table  # the column after the mode


def test_round_start_refuses_11_annotators_per_pair_as_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["round", "start", "--annotators-per-pair", "11"]) == 2
    assert "--annotators-per-pair" in capsys.readouterr().err
