"""Durability: every label, and every withdrawal, the service acknowledged survives ``kill -9``
of its process.

The service runs as a real subprocess (``python -m services.labels``) on a free loopback port; a
client keeps submitting labels (or withdrawing them) while the process is killed, then the service
is restarted on the same database and every acknowledged label must be there, unchanged (every
acknowledged withdrawal withdrawn).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PAIRS = 50

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabelProcess:
    """``python -m services.labels`` on ``port`` with its database at ``db``."""

    def __init__(self, db: Path, port: int) -> None:
        self.port = port
        self.log = db.with_name(f"labels-{time.monotonic_ns()}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANNEAL_")}
        env["ANNEAL_LABEL_DB"] = str(db)  # from the environment, the port from a flag
        env["ANNEAL_INSECURE"] = "true"  # durability, not access control, is tested here
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.labels",
                    "--port",
                    str(port),
                    "--metrics-port",
                    "0",
                ],
                cwd=REPO,
                env=env,
                stderr=log,
            )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.wait_serving()

    def wait_serving(self, timeout: float = 20.0) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + timeout
        while True:
            try:
                request = health_pb2.HealthCheckRequest(service="anneal.labels.v1.LabelService")
                if (
                    health.Check(request, timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"label service did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stub(self) -> labels_pb2_grpc.LabelServiceStub:
        return labels_pb2_grpc.LabelServiceStub(self.channel)

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def processes() -> Iterator[list[LabelProcess]]:
    started: list[LabelProcess] = []
    yield started
    for process in started:
        process.stop()


def submit_until_killed(stub: labels_pb2_grpc.LabelServiceStub, acked: list[pb.Label]) -> None:
    """Submits one label per call, pair by pair and annotator by annotator, keeping the acks."""
    for n in range(10_000):
        label = pb.Label(
            round=1,
            pair_id=n % PAIRS,
            similar=n % 3 == 0,
            annotator_id=f"ann{n // PAIRS}",
            idempotency_key=f"key-{n}",
        )
        try:
            stub.SubmitLabels(pb.SubmitLabelsRequest(labels=[label]), timeout=5)
        except grpc.RpcError:
            return
        acked.append(label)


def test_acknowledged_labels_survive_kill_9(tmp_path: Path, processes: list[LabelProcess]) -> None:
    db, port = tmp_path / "labels.db", free_port()
    first = LabelProcess(db, port)
    processes.append(first)
    pairs = [pb.ImagePair(image_a=f"img{i:03d}", image_b=f"img{i + 1:03d}") for i in range(PAIRS)]
    first.stub().OpenRound(pb.OpenRoundRequest(round=1, pairs=pairs), timeout=5)

    acked: list[pb.Label] = []
    writer = threading.Thread(target=submit_until_killed, args=(first.stub(), acked))
    writer.start()
    while len(acked) < 30 and writer.is_alive():
        time.sleep(0.01)
    first.process.send_signal(signal.SIGKILL)  # mid-stream: some call is likely in flight
    writer.join(timeout=10)
    first.process.wait(timeout=10)
    assert len(acked) >= 30

    second = LabelProcess(db, port)
    processes.append(second)
    stored = {
        label.idempotency_key: label
        for label in second.stub().ListLabels(pb.ListLabelsRequest(round=1), timeout=5).labels
    }
    for label in acked:
        assert label.idempotency_key in stored, f"acknowledged {label.idempotency_key} was lost"
        kept = stored[label.idempotency_key]
        assert (kept.pair.pair_id, kept.similar, kept.annotator_id) == (
            label.pair_id,
            label.similar,
            label.annotator_id,
        )
    # Retrying what was acknowledged is a no-op that says so.
    retry = second.stub().SubmitLabels(pb.SubmitLabelsRequest(labels=acked[:5]), timeout=5)
    assert [r.outcome for r in retry.results] == [pb.SUBMIT_OUTCOME_DUPLICATE] * 5


def withdraw_until_killed(
    stub: labels_pb2_grpc.LabelServiceStub, labels: list[pb.Label], acked: list[str]
) -> None:
    """Withdraws the labels one per call, keeping the keys of the acknowledged withdrawals."""
    for label in labels:
        request = pb.WithdrawLabelRequest(
            round=1, idempotency_key=label.idempotency_key, annotator_id=label.annotator_id
        )
        try:
            stub.WithdrawLabel(request, timeout=5)
        except grpc.RpcError:
            return
        acked.append(label.idempotency_key)


def test_acknowledged_withdrawals_survive_kill_9(
    tmp_path: Path, processes: list[LabelProcess]
) -> None:
    db, port = tmp_path / "labels.db", free_port()
    first = LabelProcess(db, port)
    processes.append(first)
    pairs = [pb.ImagePair(image_a=f"img{i:03d}", image_b=f"img{i + 1:03d}") for i in range(PAIRS)]
    first.stub().OpenRound(pb.OpenRoundRequest(round=1, pairs=pairs), timeout=5)
    labels = [
        pb.Label(round=1, pair_id=n, similar=True, annotator_id="ann", idempotency_key=f"key-{n}")
        for n in range(PAIRS)
    ]
    first.stub().SubmitLabels(pb.SubmitLabelsRequest(labels=labels), timeout=5)

    acked: list[str] = []
    writer = threading.Thread(target=withdraw_until_killed, args=(first.stub(), labels, acked))
    writer.start()
    while len(acked) < 10 and writer.is_alive():
        time.sleep(0.01)
    first.process.send_signal(signal.SIGKILL)
    writer.join(timeout=10)
    first.process.wait(timeout=10)
    assert len(acked) >= 10

    second = LabelProcess(db, port)
    processes.append(second)
    request = pb.ListLabelsRequest(round=1, include_withdrawn=True)
    stored = {x.idempotency_key: x for x in second.stub().ListLabels(request, timeout=5).labels}
    assert set(stored) == {label.idempotency_key for label in labels}  # nothing was deleted
    for key in acked:
        assert stored[key].withdrawn_at_unix_ms > 0, f"acknowledged withdrawal of {key} was lost"
    counting = second.stub().GetRoundProgress(pb.GetRoundProgressRequest(round=1), timeout=5)
    assert counting.labels <= PAIRS - len(acked)


def test_sigterm_stops_gracefully(tmp_path: Path, processes: list[LabelProcess]) -> None:
    service = LabelProcess(tmp_path / "labels.db", free_port())
    processes.append(service)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=10) == 0
    assert '"msg": "stopped"' in service.log.read_text()
