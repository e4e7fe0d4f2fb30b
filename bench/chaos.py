"""Chaos: ``kill -9`` each service in turn under continuous Retrieve-by-id load; what clients see.

Starts the system exactly as ``anneal serve`` does (``services.cli.system_start``: TLS, tokens,
six services and the web app, the supervisor restarting what dies), keeps ``--clients`` threads
sending ``Retrieve`` by archive image id through channels with the project's retry policy
(services/common/call_retries.py: gRPC retries UNAVAILABLE for idempotent calls and waits for a
restarting service within the 10 s deadline), then for each service in turn: SIGKILL to its
process group, and measure

- Retrieve calls that failed, from the kill until the system was whole again (+ 2 s);
- seconds until the system is whole again: the killed service restarted and every service
  SERVING, and a Retrieve by id and a Retrieve by image (the serving model loaded) answer.

Before the kills it measures what issue 9 reported: on a second start over existing state (the
first start indexes the archive and is stopped), how long after ``start_system`` returned a
Retrieve by image first answers (0 s: at once). Prints a Markdown table.

    .venv/bin/python bench/chaos.py [--archive ../shared/data/ucmerced] [--clients 2]
        [--rate 20] [--services retrieval,search,embedding,selection,labels,coordinator,web]

``--rate`` paces each client (queries per second; 0: back to back): the load is continuous
without starving the restart it measures of CPU on a small machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.cli.supervisor import Supervisor
from services.cli.system_config import SystemConfig, free_port_base
from services.cli.system_start import start_system
from services.demo.query_load import QueryLoad, paced, retrieval_query
from services.security.principal import Role

ORDER = ("retrieval", "search", "embedding", "selection", "labels", "coordinator", "web")
SETTLE_S = 3.0
WHOLE_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Row:
    service: str
    calls: int
    failed: int
    first_error: str
    restarted_s: float
    whole_s: float


class Probe:
    """Is the system whole: every service SERVING, Retrieve by id and by image answering."""

    def __init__(self, config: SystemConfig, supervisor: Supervisor, image_id: str) -> None:
        self._config = config
        self._supervisor = supervisor
        self._reader = config.client(Role.READER)
        channel = self._reader.channel(config.address("retrieval"), wait_for_ready=False)
        self._channel = channel
        self._stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        self._image_id = image_id
        self._image = (config.archive / image_id).read_bytes()

    def close(self) -> None:
        self._channel.close()

    def all_serving(self) -> bool:
        processes = self._supervisor.processes.values()
        return all(p.process.poll() is None and p.serving(self._reader) for p in processes)

    def answers_by_image(self) -> bool:
        query = retrieval_pb2.Query(image=self._image)
        try:
            self._stub.Retrieve(retrieval_pb2.RetrieveRequest(query=query, k=5), timeout=5)
        except grpc.RpcError:
            return False
        return True

    def answers(self) -> bool:
        queries = (
            retrieval_pb2.Query(image_id=self._image_id),
            retrieval_pb2.Query(image=self._image),
        )
        try:
            for query in queries:
                self._stub.Retrieve(retrieval_pb2.RetrieveRequest(query=query, k=5), timeout=5)
        except grpc.RpcError:
            return False
        return True


def kill_and_heal(supervisor: Supervisor, probe: Probe, name: str) -> tuple[float, float, float]:
    """(kill time, seconds until restarted, seconds until whole), monotonic clock."""
    before, restarts = supervisor.pid(name), supervisor.restarts[name]
    killed = time.monotonic()
    os.killpg(before, signal.SIGKILL)
    restarted: float | None = None
    while time.monotonic() - killed < WHOLE_TIMEOUT_S:
        if supervisor.restarts[name] > restarts:
            restarted = restarted or time.monotonic() - killed
            if probe.all_serving() and probe.answers():
                return killed, restarted, time.monotonic() - killed
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not heal within {WHOLE_TIMEOUT_S:.0f} s")


def first_image_answer(probe: Probe) -> tuple[float, int]:
    """Seconds until a Retrieve by image first answers, and the calls that failed before."""
    started, failed = time.monotonic(), 0
    while not probe.answers_by_image():
        failed += 1
        if time.monotonic() - started > WHOLE_TIMEOUT_S:
            raise RuntimeError("Retrieve by image never answered")
        time.sleep(0.1)
    return (0.0 if failed == 0 else time.monotonic() - started), failed


def bench(config: SystemConfig, services: list[str], clients: int, rate: float) -> list[Row]:
    start_system(config, print, timeout_s=1800).stop()  # index the archive, then serve again
    supervisor = start_system(config, print, timeout_s=1800)
    rows = []
    try:
        ids = sorted(
            str(p.relative_to(config.archive)) for p in config.archive.rglob("*") if p.is_file()
        )
        probe = Probe(config, supervisor, ids[0])
        seconds, failed = first_image_answer(probe)
        print(
            f"after start on existing state: Retrieve by image answered after {seconds:.1f} s"
            f" ({failed} failed before)",
            flush=True,
        )
        channel = config.client(Role.READER).channel(config.address("retrieval"))
        load = QueryLoad(paced(retrieval_query(channel), rate), ids, k=10, clients=clients)
        load.start()
        try:
            time.sleep(SETTLE_S)
            for name in services:
                killed, restarted, whole = kill_and_heal(supervisor, probe, name)
                time.sleep(2.0)
                stats = load.stats(since=killed, until=killed + whole + 2.0)
                errors = [
                    a.error
                    for c in load.answers
                    for a in list(c)
                    if a.error and killed <= a.at < killed + whole + 2.0
                ]
                rows.append(
                    Row(
                        name,
                        stats.calls,
                        stats.errors,
                        errors[0] if errors else "",
                        restarted,
                        whole,
                    )
                )
                print(f"{name}: {rows[-1]}", flush=True)
                time.sleep(SETTLE_S)
        finally:
            load.stop()
            channel.close()
            probe.close()
    finally:
        supervisor.stop()
    return rows


def table(rows: list[Row]) -> str:
    columns = (
        "service killed",
        "Retrieve calls meanwhile",
        "failed",
        "restarted after (s)",
        "whole again after (s)",
        "first error",
    )
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for r in rows:
        error = r.first_error.split(":")[0] if r.first_error else ""
        cells = (r.service, r.calls, r.failed, f"{r.restarted_s:.1f}", f"{r.whole_s:.1f}", error)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=Path("../shared/data/ucmerced"))
    parser.add_argument("--feature-cache", type=Path, default=Path(".cache/features"))
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="queries/s per client")
    parser.add_argument("--services", default=",".join(ORDER))
    args = parser.parse_args()
    if not args.archive.is_dir():
        parser.error(f"--archive {args.archive} is not a folder")
    services = [s for s in args.services.split(",") if s]
    unknown = [s for s in services if s not in ORDER]
    if unknown:
        parser.error(f"--services: unknown {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    with tempfile.TemporaryDirectory(prefix="anneal-chaos-") as scratch:
        config = SystemConfig(
            archive=args.archive.resolve(),
            state_dir=Path(scratch) / "state",
            grpc_port_base=free_port_base(54051),
            metrics_port_base=free_port_base(9201, offsets=(0,), count=7),
            feature_cache=str(args.feature_cache.resolve()),
            log_level="WARNING",
        )
        rows = bench(config, services, args.clients, args.rate)
    print(table(rows))


if __name__ == "__main__":
    main()
