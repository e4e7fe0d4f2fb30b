"""Retrieve latency through the real system: p50/p99 and throughput at 1 and 16 clients.

Starts the six services on loopback exactly as ``anneal serve`` does
(``services.cli.system_start``: Milvus Lite by default, local Ray, the coordinator's 128-d
round-0 model over cached backbone features in ``.cache/features``), waits until the archive is
indexed, then sends a bounded number of ``Retrieve`` calls per row, by archive image id (the
query image left out) and by vector (the archive's own embeddings, exported from the search
service). Beside them: numpy brute force over the same vectors in this process, the floor.
``--rebuild`` measures the same rows again while a thread rebuilds the index without pause
(``BuildIndex`` of the same vectors as version N+1 with swap, over and over) and reports errors,
incomplete answers, index versions going backwards in a client's view, and p99 against idle.
Beside them, measured in the same run by the same client: the echo floor of 1 and 2 Python gRPC
hops (bench/echo_floor.py). Every row reports CPU milliseconds per query, summed over this
process (the clients) and every process of the system (``/proc/<pid>/stat`` before and after),
and in brackets the system's processes alone. Prints a Markdown table.

    .venv/bin/python bench/retrieve_latency.py [--queries 400] [--rebuild] [--insecure]
        [--archive ../shared/data/ucmerced] [--milvus-uri http://127.0.0.1:19530
        --milvus-pid $(pgrep -f "milvus run standalone")]

The system runs secured as ``anneal serve`` runs it (TLS, tokens: the clients hold the local
reader token); ``--insecure`` turns both off, to measure what security costs. The benchmark reads
the index where it lies and rebuilds it with the local certificates of the services that own
those steps (selection exports vectors, the coordinator builds and swaps).

With ``--milvus-uri`` the search service uses that server; it drops index collections other
than its serving one at start-up, so do not point it at a server another system uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from echo_floor import measure_floors
from latency_rows import (
    CLIENT_COUNTS,
    Query,
    RowStats,
    idle_cpu_rate,
    print_header,
    print_row,
    run_row,
)
from process_cpu import descendants, process_name

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.cli.system_config import SystemConfig, free_port_base
from services.cli.system_start import start_system
from services.security.channels import ChannelSecurity
from services.security.principal import Role

BUILD_CHUNK = 500
FLOOR_KINDS = ("sync", "aio")


@dataclass(frozen=True)
class IndexSnapshot:
    """The serving index as exported by the search service: items and their vectors."""

    version: int
    model_version: str
    items: list[search_pb2.IndexItem]
    vectors: np.ndarray

    @property
    def ids(self) -> list[str]:
        return [item.image_id for item in self.items]


def export_index(search: search_pb2_grpc.SearchServiceStub) -> IndexSnapshot:
    info = search.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=10)
    request = search_pb2.ExportVectorsRequest(
        version=info.version, batch_size=BUILD_CHUNK, include_metadata=True
    )
    items: list[search_pb2.IndexItem] = []
    for reply in search.ExportVectors(request, timeout=120):
        items.extend(reply.items)
    vectors = np.array([item.vector.values for item in items], dtype=np.float32)
    return IndexSnapshot(int(info.version), info.model_version, items, vectors)


def retrieve_by_id(stub: retrieval_pb2_grpc.RetrievalServiceStub, ids: list[str], k: int) -> Query:
    def run(i: int) -> tuple[int, int]:
        query = retrieval_pb2.Query(image_id=ids[i % len(ids)])
        request = retrieval_pb2.RetrieveRequest(query=query, k=k, exclude_query_image=True)
        reply = stub.Retrieve(request, timeout=30)
        return int(reply.index_version), len(reply.hits)

    return run


def retrieve_by_vector(
    stub: retrieval_pb2_grpc.RetrievalServiceStub, vectors: np.ndarray, k: int
) -> Query:
    values = [row.tolist() for row in vectors]  # converted once, not inside the timed call

    def run(i: int) -> tuple[int, int]:
        query = retrieval_pb2.Query(vector=retrieval_pb2.Vector(values=values[i % len(values)]))
        reply = stub.Retrieve(retrieval_pb2.RetrieveRequest(query=query, k=k), timeout=30)
        return int(reply.index_version), len(reply.hits)

    return run


def brute_force(vectors: np.ndarray, k: int) -> Query:
    """Inner product against every archive vector, top k sorted: what Milvus FLAT computes."""

    def run(i: int) -> tuple[int, int]:
        scores = vectors @ vectors[i % len(vectors)]
        top = np.argpartition(-scores, k)[:k]
        return 0, len(top[np.argsort(-scores[top])])

    return run


class Rebuilder:
    """Rebuilds the serving index as version N+1 with swap, again and again, until stopped."""

    def __init__(self, search: search_pb2_grpc.SearchServiceStub, snapshot: IndexSnapshot) -> None:
        self._search = search
        self._snapshot = snapshot
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rebuilder", daemon=True)
        self.swapped: list[int] = []
        self.build_seconds: list[float] = []
        self.failures: list[str] = []

    def _requests(self, version: int) -> Iterator[search_pb2.BuildIndexRequest]:
        options = search_pb2.BuildOptions(
            version=version, model_version=self._snapshot.model_version, swap=True
        )
        yield search_pb2.BuildIndexRequest(options=options)
        items = self._snapshot.items
        for start in range(0, len(items), BUILD_CHUNK):
            yield search_pb2.BuildIndexRequest(items=items[start : start + BUILD_CHUNK])

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                info = self._search.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=10)
                reply = self._search.BuildIndex(self._requests(info.version + 1), timeout=300)
            except grpc.RpcError as exc:
                self.failures.append(f"{exc.code().name}: {exc.details()}")
                self._stop.wait(1.0)
                continue
            self.build_seconds.append(reply.build_seconds)
            if reply.swapped:
                self.swapped.append(int(reply.version))

    def __enter__(self) -> Rebuilder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=600)


def measure_service(
    rows: list[tuple[str, Query]],
    k: int,
    queries: int,
    population: int,
    load: str,
    servers: Sequence[int],
    idle_cpu_per_s: float,
) -> dict[tuple[str, int], RowStats]:
    results = {}
    for name, query in rows:
        for clients in CLIENT_COUNTS:
            per_client = max(1, queries // clients)
            stats = run_row(query, k, clients, per_client, population, servers, idle_cpu_per_s)
            print_row("retrieval service", name, clients, load, stats)
            results[(name, clients)] = stats
    return results


def print_breakdown(rows: dict[tuple[str, int], RowStats], servers: Sequence[int]) -> None:
    """CPU ms per query of each process that used at least 0.05 ms in some idle row."""
    names = {pid: process_name(pid) for pid in servers}
    busy = [
        pid for pid in servers if any(r.per_process_ms.get(pid, 0) >= 0.05 for r in rows.values())
    ]
    print("\nCPU ms per query by process (idle rows):\n")
    print(
        "| process | "
        + " | ".join(f"{q}, {c} client{'s' if c > 1 else ''}" for q, c in rows)
        + " |"
    )
    print("|---|" + "---|" * len(rows))
    for pid in busy:
        cells = " | ".join(f"{r.per_process_ms.get(pid, 0):.2f}" for r in rows.values())
        print(f"| {names[pid]} | {cells} |")
    print()


def as_service(config: SystemConfig, name: str) -> ChannelSecurity:
    """The credentials of service ``name`` on this machine (none when the system is insecure)."""
    if config.insecure:
        return ChannelSecurity()
    return ChannelSecurity.for_service(config.security.service_tls(name))


def bench(
    config: SystemConfig, k: int, queries: int, rebuild: bool, milvus_pids: Sequence[int]
) -> None:
    started = time.monotonic()
    supervisor = start_system(config, say=lambda text: print(text, file=sys.stderr))
    try:
        print(f"system up and indexed in {time.monotonic() - started:.0f}s", file=sys.stderr)
        with (
            config.client(Role.READER).channel(config.address("retrieval")) as retrieval_channel,
            as_service(config, "selection").channel(config.internal_address("search")) as reader,
            as_service(config, "coordinator").channel(config.internal_address("search")) as owner,
        ):
            retrieval = retrieval_pb2_grpc.RetrievalServiceStub(retrieval_channel)
            search = search_pb2_grpc.SearchServiceStub(owner)
            snapshot = export_index(search_pb2_grpc.SearchServiceStub(reader))
            count, dim = snapshot.vectors.shape
            print(
                f"\n{count} images, dimension {dim}, index v{snapshot.version}"
                f" (model {snapshot.model_version}), top-{k}, {queries} queries per row,"
                f" {os.cpu_count()} CPUs, Milvus {config.milvus_uri or 'Lite'},"
                f" {'INSECURE (no TLS, no tokens)' if config.insecure else 'TLS + tokens'}\n"
            )
            print_header()
            measure_floors(queries)
            for clients in CLIENT_COUNTS:
                floor = brute_force(snapshot.vectors, k)
                stats = run_row(floor, k, clients, max(1, queries // clients), count)
                print_row("numpy brute force, in-process", "by vector", clients, "idle", stats)
            rows = [
                ("by id", retrieve_by_id(retrieval, snapshot.ids, k)),
                ("by vector", retrieve_by_vector(retrieval, snapshot.vectors, k)),
            ]
            servers = [*descendants(os.getpid()), *milvus_pids]
            idle_rate = idle_cpu_rate(servers)
            idle = measure_service(rows, k, queries, count, "idle", servers, idle_rate)
            print_breakdown(idle, servers)
            if not rebuild:
                return
            with Rebuilder(search, snapshot) as rebuilder:
                busy = measure_service(rows, k, queries, count, "rebuilding", servers, idle_rate)
            print()
            builds = rebuilder.build_seconds
            print(
                f"rebuilds during the rebuilding rows: {len(builds)} built and"
                f" {len(rebuilder.swapped)} swapped"
                + (f" (v{rebuilder.swapped[0]}..v{rebuilder.swapped[-1]})" if builds else "")
                + (f", build time p50 {np.median(builds):.1f}s" if builds else "")
                + f", {len(rebuilder.failures)} failed"
                + (f" (first: {rebuilder.failures[0]})" if rebuilder.failures else "")
            )
            for key, stats in busy.items():
                ratio = stats.p99_ms / idle[key].p99_ms
                print(f"- {key[0]}, {key[1]} clients: p99 rebuilding / idle = {ratio:.2f}")
    finally:
        supervisor.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=Path("../shared/data/ucmerced"))
    parser.add_argument("--state-dir", type=Path, help="default: a temporary folder")
    parser.add_argument("--feature-cache", type=Path, default=Path(".cache/features"))
    parser.add_argument("--milvus-uri", default="", help="a Milvus server; default Milvus Lite")
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--queries", type=int, default=400, help="queries per row")
    parser.add_argument("--rebuild", action="store_true", help="also measure during rebuilds")
    parser.add_argument("--insecure", action="store_true", help="no TLS and no tokens")
    parser.add_argument(
        "--milvus-pid",
        type=int,
        nargs="*",
        default=[],
        help="the Milvus server's processes, to count their CPU time with the system's",
    )
    args = parser.parse_args()
    if not args.archive.is_dir():
        parser.error(f"--archive {args.archive} is not a folder")
    with tempfile.TemporaryDirectory(prefix="anneal-bench-") as scratch:
        state = (args.state_dir or Path(scratch)).resolve()
        config = SystemConfig(
            archive=args.archive.resolve(),
            state_dir=state,
            milvus_uri=args.milvus_uri,
            grpc_port_base=free_port_base(55051),
            metrics_port_base=free_port_base(9301, offsets=(0,), count=7),
            feature_cache=str(args.feature_cache.resolve()),
            log_level="WARNING",
            insecure=args.insecure,
        )
        bench(config, args.k, args.queries, args.rebuild, args.milvus_pid)


if __name__ == "__main__":
    main()
