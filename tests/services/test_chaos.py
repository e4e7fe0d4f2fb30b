"""Chaos on a whole system started as ``anneal serve`` starts it (TLS, tokens, six services and
the web app, a tiny generated archive): ``kill -9`` a service during a round under continuous
Retrieve-by-id load. The supervisor restarts it, no acknowledged label is lost, the round
completes, and Retrieve by id keeps answering (except while search or retrieval itself is
down). Also: right after start-up on existing state, a query by image answers at once.

The default run kills the labels service; ``-m slow`` kills every service in turn.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from round_helpers import class_of, make_archive

from annealpb.coordinator.v1 import coordinator_pb2 as cpb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.cli.supervisor import Supervisor
from services.cli.system_config import SystemConfig, free_port_base
from services.cli.system_start import start_system
from services.demo.query_load import QueryLoad, paced, retrieval_query
from services.security.principal import Role

pytestmark = pytest.mark.integration
BUDGET = 6


@dataclass
class Chaos:
    config: SystemConfig
    supervisor: Supervisor
    ids: list[str]
    said: list[str]

    def stub(self, role: Role, name: str, stub_class: type, patient: bool = True):  # type: ignore[no-untyped-def]
        channel = self.config.client(role).channel(
            self.config.address(name), wait_for_ready=patient
        )
        return stub_class(channel)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    root: Path = tmp_path_factory.mktemp("chaos")
    ids = make_archive(root / "archive")
    config = SystemConfig(
        archive=root / "archive",
        state_dir=root / "state",
        grpc_port_base=free_port_base(58051),
        metrics_port_base=free_port_base(9601, offsets=(0,), count=7),
        feature_cache=str(root / "features"),
        dim=8,
        log_level="WARNING",
    )
    said: list[str] = []
    # the first start indexes the archive; serving again on that state is where the serving
    # model used to be loaded seconds after "serving" was said
    start_system(config, said.append, timeout_s=300).stop()
    supervisor = start_system(config, said.append, timeout_s=300)
    try:
        yield Chaos(config, supervisor, ids, said)
    finally:
        supervisor.stop()


def test_retrieve_by_image_answers_right_after_start(chaos: Chaos) -> None:
    """First in the module: runs right after start_system returned (no retries allowed)."""
    channel = chaos.config.client(Role.READER).channel(
        chaos.config.address("retrieval"), options=(("grpc.enable_retries", 0),)
    )
    image = (chaos.config.archive / chaos.ids[0]).read_bytes()
    request = retrieval_pb2.RetrieveRequest(query=retrieval_pb2.Query(image=image), k=3)
    with channel:
        reply = retrieval_pb2_grpc.RetrievalServiceStub(channel).Retrieve(request, timeout=10)
    assert len(reply.hits) == 3


def _start_round(chaos: Chaos) -> tuple[int, list[labels_pb2.Label]]:
    coordinator = chaos.stub(
        Role.OPERATOR, "coordinator", coordinator_pb2_grpc.CoordinatorServiceStub
    )
    status = coordinator.StartRound(
        cpb.StartRoundRequest(strategy="random", budget=BUDGET, close_when_answered=False),
        timeout=120,
    ).status
    selection = chaos.stub(Role.ANNOTATOR, "selection", selection_pb2_grpc.SelectionServiceStub)
    pending = selection.ListPendingPairs(
        selection_pb2.ListPendingPairsRequest(round=status.round), timeout=30
    ).pairs
    labels = [
        labels_pb2.Label(
            round=status.round,
            pair_id=p.pair_id,
            similar=class_of(p.image_a) == class_of(p.image_b),
            idempotency_key=f"chaos:r{status.round}:p{p.pair_id}",
        )
        for p in pending
    ]
    return int(status.round), labels


def _submit(chaos: Chaos, labels: list[labels_pb2.Label]) -> None:
    """Submit and check every label is acknowledged (first time, or again after a lost reply)."""
    stub = chaos.stub(Role.ANNOTATOR, "labels", labels_pb2_grpc.LabelServiceStub)
    reply = stub.SubmitLabels(labels_pb2.SubmitLabelsRequest(labels=labels), timeout=30)
    acked = (labels_pb2.SUBMIT_OUTCOME_ACCEPTED, labels_pb2.SUBMIT_OUTCOME_DUPLICATE)
    assert [r.outcome in acked for r in reply.results] == [True] * len(labels)


def _stored_keys(chaos: Chaos, round_number: int) -> set[str]:
    stub = chaos.stub(Role.OPERATOR, "labels", labels_pb2_grpc.LabelServiceStub)
    reply = stub.ListLabels(labels_pb2.ListLabelsRequest(round=round_number), timeout=30)
    return {label.idempotency_key for label in reply.labels}


def _finish_round(chaos: Chaos, round_number: int) -> cpb.RoundStatus:
    coordinator = chaos.stub(
        Role.OPERATOR, "coordinator", coordinator_pb2_grpc.CoordinatorServiceStub
    )
    coordinator.CloseRound(cpb.CloseRoundRequest(round=round_number), timeout=60)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = coordinator.GetStatus(cpb.GetStatusRequest(round=round_number), timeout=30).round
        if status.state in (cpb.ROUND_STATE_DONE, cpb.ROUND_STATE_FAILED):
            return status
        time.sleep(0.5)
    raise AssertionError(f"round {round_number} did not finish within 180 s")


def _kill(chaos: Chaos, name: str, timeout_s: float = 120.0) -> float:
    """``kill -9`` the service's process group; when (monotonic) it was restarted and SERVING."""
    supervisor = chaos.supervisor
    before, restarts = supervisor.pid(name), supervisor.restarts[name]
    killed = time.monotonic()
    os.killpg(before, signal.SIGKILL)
    reader = chaos.config.client(Role.READER)
    while time.monotonic() - killed < timeout_s:
        if supervisor.restarts[name] > restarts and supervisor.processes[name].serving(reader):
            assert supervisor.pid(name) != before
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"{name} not restarted within {timeout_s:.0f} s: {chaos.said[-3:]}")


@dataclass(frozen=True)
class Outcome:
    calls: int
    failed: int
    failed_after_healing: int
    errors: list[str]


def _round_under_load_with_a_kill(chaos: Chaos, name: str) -> Outcome:
    """One round: half the labels acked, ``name`` killed, the rest submitted (riding out the
    restart), all listed, the round closed and DONE; what the Retrieve-by-id load saw."""
    reader = chaos.config.client(Role.READER).channel(chaos.config.address("retrieval"))
    load = QueryLoad(paced(retrieval_query(reader), 50), chaos.ids, k=5, clients=1)
    load.start()
    try:
        round_number, labels = _start_round(chaos)
        half = len(labels) // 2
        _submit(chaos, labels[:half])
        healed = _kill(chaos, name)
        _submit(chaos, labels[half:])
        assert _stored_keys(chaos, round_number) == {label.idempotency_key for label in labels}
        status = _finish_round(chaos, round_number)
        assert status.state == cpb.ROUND_STATE_DONE, status.error
    finally:
        load.stop()
        reader.close()
    stats = load.stats()
    after = load.stats(since=healed + 1.0)  # channels reconnect within 1 s (call_retries)
    return Outcome(stats.calls, stats.errors, after.errors, load.first_errors())


def test_killed_labels_service_heals_and_loses_no_acknowledged_label(chaos: Chaos) -> None:
    outcome = _round_under_load_with_a_kill(chaos, "labels")
    assert outcome.calls > 0 and outcome.failed == 0, outcome.errors
    assert any("the labels service exited (code -9); restarting it" in s for s in chaos.said)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["retrieval", "search", "embedding", "selection", "coordinator", "web"]
)
def test_every_killed_service_heals_during_a_round(chaos: Chaos, name: str) -> None:
    outcome = _round_under_load_with_a_kill(chaos, name)
    assert outcome.calls > 0 and outcome.failed_after_healing == 0, outcome.errors
    if name not in ("search", "retrieval"):
        assert outcome.failed == 0, outcome.errors
