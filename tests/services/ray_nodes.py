"""A Ray cluster of a head and a worker node, each started by ``ray start`` as a process of its
own, on this machine; stopped by ending exactly the processes started here.

Not ``ray stop``: it ends every Ray process on the machine, other tests' included. Each node is
started with ``--block`` in a session of its own, so its raylet, object store and the rest are
in that session's process group and go when the group is ended. Every port is picked free, so
it runs beside other Ray instances (the session's local Ray, other test processes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 100 * 1024**2
RAY_ENVIRONMENT = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}
"""For the nodes and their drivers: this checkout's code on the path (the nodes' workers import
it), no token (loopback only), no usage reports."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _node_ports() -> list[str]:
    ports = {
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
    }
    return [f"{flag}={port}" for flag, port in ports.items()]


def _start(arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
    common = [
        "--num-cpus=1",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--node-ip-address=127.0.0.1",
        "--disable-usage-stats",
        "--block",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(RAY), "start", *arguments, *common, *_node_ports()],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=RAY_ENVIRONMENT,
        )


def _stop(node: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGTERM)
    try:
        node.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=10)
    time.sleep(1)  # the group's other processes end after its leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGKILL)


def _wait_for_nodes(address: str, count: int, timeout_s: float) -> None:
    probe = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, log_to_driver=False)\n"
        f"deadline = time.monotonic() + {timeout_s}\n"
        f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
        "    if time.monotonic() > deadline: sys.exit(1)\n"
        "    time.sleep(0.5)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        timeout=timeout_s + 60,
        env=RAY_ENVIRONMENT,
        check=False,
    )
    assert done.returncode == 0, f"{count} Ray nodes did not come up: {done.stderr[-1500:]!r}"


@contextlib.contextmanager
def two_node_cluster(scratch: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """The head's address (``127.0.0.1:port``) while a head and a worker node of 1 CPU each
    run, their logs in ``scratch``; both stopped after, whatever happened."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    scratch.mkdir(parents=True, exist_ok=True)
    short = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # socket paths have a length limit
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        nodes.append(
            _start(
                [
                    "--head",
                    f"--port={port}",
                    f"--ray-client-server-port={free_port()}",
                    "--include-dashboard=false",
                    f"--temp-dir={short / 'head'}",
                ],
                scratch / "head.log",
            )
        )
        _wait_for_nodes(address, 1, timeout_s)
        nodes.append(
            _start(
                [f"--address={address}", f"--temp-dir={short / 'worker'}"],
                scratch / "worker.log",
            )
        )
        _wait_for_nodes(address, 2, timeout_s)
        yield address
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(short, ignore_errors=True)
