"""The supervisor restarts a service process that was killed, gives up after too many crashes
with one line naming the service and its log, and the others keep serving (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.restart_policy import RestartPolicy
from services.cli.supervisor import Supervisor, kill_session
from services.cli.system_config import SystemConfig, free_port_base
from services.security.principal import Role


def wait_until(check, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Supervisor, list[str]]]:
    config = SystemConfig(
        archive=tmp_path,
        state_dir=tmp_path / "state",
        grpc_port_base=free_port_base(44051),
        metrics_port_base=free_port_base(45101, offsets=(0,)),
        insecure=True,
        log_level="WARNING",
    )
    said: list[str] = []
    policy = RestartPolicy(initial_backoff_s=0.1, max_backoff_s=0.2, max_crashes=2, window_s=60)
    supervisor = Supervisor(config, policy, said.append)
    supervisor.start(("labels", "retrieval"))
    try:
        supervisor.wait_serving(60)
        supervisor.keep_alive(interval_s=0.05)
        yield supervisor, said
    finally:
        supervisor.stop()


def serving(supervisor: Supervisor, name: str) -> bool:
    return supervisor.processes[name].serving(supervisor.config.client(Role.READER))


@pytest.mark.integration
def test_killed_service_is_restarted_then_given_up_while_others_serve(supervised) -> None:
    supervisor, said = supervised
    first, retrieval = supervisor.pid("labels"), supervisor.pid("retrieval")
    os.killpg(first, signal.SIGKILL)
    wait_until(lambda: supervisor.restarts["labels"] == 1 and serving(supervisor, "labels"))
    assert supervisor.pid("labels") != first
    assert "the labels service exited (code -9); restarting it" in said[0]

    os.killpg(supervisor.pid("labels"), signal.SIGKILL)  # the 2nd crash within the window
    wait_until(lambda: "labels" in supervisor.given_up)
    time.sleep(0.3)  # long enough for a (wrong) restart after the 0.2 s back-off
    assert supervisor.restarts["labels"] == 1 and supervisor.dead() == ["labels"]
    message = said[-1]
    assert "the labels service crashed 2 times within 60s; not restarting it" in message
    assert str(supervisor.processes["labels"].log) in message and "\n" not in message
    assert supervisor.pid("retrieval") == retrieval and serving(supervisor, "retrieval")


def test_kill_session_kills_what_a_dead_leader_left_behind() -> None:
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    leader.kill()
    leader.wait()
    os.kill(child, 0)  # still running, orphaned in the leader's session
    assert kill_session(leader.pid) == 1
    wait_until(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 5)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
