"""One latency row of a query benchmark: N client threads, p50/p99, throughput, CPU per query.

Shared by ``retrieve_latency.py`` and ``echo_floor.py`` so the floor and the system are measured
by the same client: Python threads in one process, each sending its queries one after another.
CPU milliseconds per query are summed over the client process and the server processes given,
from ``/proc/<pid>/stat`` before and after the timed part.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import numpy as np
from process_cpu import cpu_seconds

Query = Callable[[int], tuple[int, int]]
"""Query number ``i`` of the row -> (index version that answered, hits returned)."""

CLIENT_COUNTS = (1, 16)


@dataclass(frozen=True)
class RowStats:
    """One row: latency of the calls that succeeded, what went wrong, and CPU per query."""

    p50_ms: float
    p99_ms: float
    per_second: float
    calls: int
    errors: Counter[str]
    incomplete: int
    backwards: int
    cpu_ms: float
    """CPU milliseconds per query, client and servers together."""
    server_cpu_ms: float
    """CPU milliseconds per query of the server processes alone."""
    idle_cpu_ms: float
    """Of ``server_cpu_ms``, what the servers use without queries over the same time (Ray's
    daemons, polling threads), measured before the row."""
    per_process_ms: dict[int, float]
    """CPU milliseconds per query of each server process."""


def run_row(
    query: Query,
    k: int,
    clients: int,
    per_client: int,
    population: int,
    servers: Sequence[int] = (),
    idle_cpu_per_s: float = 0.0,
) -> RowStats:
    """``clients`` threads, each sending ``per_client`` queries (random picks, fixed seed).

    ``servers``: the pids whose CPU time counts as the servers'; ``idle_cpu_per_s``: their CPU
    seconds per second without queries (:func:`idle_cpu_rate`).
    """
    picks = np.random.default_rng(clients).integers(0, population, size=(clients, per_client))
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    counts = {"incomplete": 0, "backwards": 0}
    lock = threading.Lock()

    def client(row: np.ndarray) -> None:
        mine: list[float] = []
        failed: Counter[str] = Counter()
        incomplete = backwards = 0
        last_version = 0
        for pick in row:
            started = time.perf_counter()
            try:
                version, hits = query(int(pick))
            except grpc.RpcError as exc:
                failed[exc.code().name] += 1
                continue
            mine.append(time.perf_counter() - started)
            incomplete += hits != k
            backwards += version < last_version
            last_version = max(last_version, version)
        with lock:
            latencies.extend(mine)
            errors.update(failed)
            counts["incomplete"] += incomplete
            counts["backwards"] += backwards

    for i in range(5):
        query(i)  # warm-up: channels, caches
    threads = [threading.Thread(target=client, args=(picks[c],)) for c in range(clients)]
    client_before = cpu_seconds([os.getpid()])
    each_before = {pid: cpu_seconds([pid]) for pid in servers}
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    each = {pid: cpu_seconds([pid]) - before for pid, before in each_before.items()}
    server_cpu = sum(each.values())
    client_cpu = cpu_seconds([os.getpid()]) - client_before
    calls = clients * per_client
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return RowStats(
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        per_second=len(latencies) / wall,
        calls=calls,
        errors=errors,
        incomplete=counts["incomplete"],
        backwards=counts["backwards"],
        cpu_ms=(client_cpu + server_cpu) * 1000 / calls,
        server_cpu_ms=server_cpu * 1000 / calls,
        idle_cpu_ms=idle_cpu_per_s * wall * 1000 / calls,
        per_process_ms={pid: used * 1000 / calls for pid, used in each.items()},
    )


def idle_cpu_rate(servers: Sequence[int], seconds: float = 3.0) -> float:
    """CPU seconds per second the ``servers`` use while no query is sent."""
    before = cpu_seconds(servers)
    time.sleep(seconds)
    return (cpu_seconds(servers) - before) / seconds


def print_header() -> None:
    print(
        "| path | query | clients | load | p50 ms | p99 ms | queries/s | calls | errors"
        " | incomplete | versions backwards | CPU ms/query: all (servers, of which idle) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")


def print_row(path: str, query: str, clients: int, load: str, stats: RowStats) -> None:
    errors = ", ".join(f"{n} {code}" for code, n in stats.errors.most_common()) or "0"
    print(
        f"| {path} | {query} | {clients} | {load} | {stats.p50_ms:.1f} | {stats.p99_ms:.1f}"
        f" | {stats.per_second:.0f} | {stats.calls} | {errors} | {stats.incomplete}"
        f" | {stats.backwards} | {stats.cpu_ms:.2f} ({stats.server_cpu_ms:.2f},"
        f" {stats.idle_cpu_ms:.2f}) |",
        flush=True,
    )
