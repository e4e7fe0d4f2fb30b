"""Search latency by vector: p50/p99 and throughput at 1 and 16 concurrent clients.

Compares numpy brute force (the floor), Milvus Lite through pymilvus and its loopback gRPC
adapter (how the search service called it before issue 11), Milvus Lite's engine called in
process (how it does now), that behind the query batcher, the gRPC search service (its own
process, Milvus Lite, batcher) and, given ``--server-uri``, a Milvus server directly and behind
the batcher. Random L2-normalised vectors
(2,100 by default, like UC Merced), FLAT index, inner product, top-20. Prints a Markdown table.

    .venv/bin/python bench/search_latency.py --dims 128 1280 [--server-uri http://127.0.0.1:19530]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.search.batcher import SearchBatcher
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.vector_searcher import ClientSearcher

Query = Callable[[np.ndarray], object]


def measure(query: Query, vectors: np.ndarray, clients: int, per_client: int) -> tuple[float, ...]:
    """(p50 ms, p99 ms, queries/s) of ``clients`` threads each sending ``per_client`` queries."""
    latencies: list[float] = []
    lock = threading.Lock()
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(vectors), size=(clients, per_client))

    def run(client: int) -> None:
        mine = []
        for i in picks[client]:
            started = time.perf_counter()
            query(vectors[i])
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    for i in range(5):
        query(vectors[i])  # warm-up
    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(ms) / wall


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_requests(ids: list[str], vectors: np.ndarray) -> Iterator[search_pb2.BuildIndexRequest]:
    yield search_pb2.BuildIndexRequest(options=search_pb2.BuildOptions(version=1, swap=True))
    for start in range(0, len(ids), 500):
        yield search_pb2.BuildIndexRequest(
            items=[
                search_pb2.IndexItem(image_id=i, vector=search_pb2.Vector(values=v.tolist()))
                for i, v in zip(ids[start : start + 500], vectors[start : start + 500], strict=True)
            ]
        )


class SearchProcess:
    """``python -m services.search`` on a fresh Milvus Lite file, filled over gRPC."""

    def __init__(self, workdir: Path, ids: list[str], vectors: np.ndarray) -> None:
        port = free_port()
        # The search layer alone, without access control (retrieve_latency.py measures what
        # TLS and tokens cost on the whole query path).
        env = {
            **os.environ,
            "ANNEAL_MILVUS_URI": str(workdir / "service.db"),
            "ANNEAL_INSECURE": "true",
        }
        args = ["--port", str(port), "--metrics-port", "0", "--log-level", "WARNING"]
        self.process = subprocess.Popen([sys.executable, "-m", "services.search", *args], env=env)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = search_pb2_grpc.SearchServiceStub(self.channel)
        self.stub.BuildIndex(build_requests(ids, vectors))

    def query(self, vector: np.ndarray, k: int) -> None:
        request = search_pb2.SearchRequest(vectors=[search_pb2.Vector(values=vector.tolist())], k=k)
        self.stub.Search(request, timeout=30)

    def close(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def bench_dim(dim: int, count: int, k: int, queries: int, server_uri: str) -> None:
    """Print the table rows of every backend at one dimension."""
    raw = np.random.default_rng(dim).standard_normal((count, dim)).astype(np.float32)
    vectors = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    ids = [f"img{i:05d}" for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lite = IndexManager.open(str(workdir / "lite.db"), IndexConfig())
        lite.build(1, ids, vectors)
        lite.swap(1)
        lite_batcher = SearchBatcher(lite.search)
        # What IndexManager searched through before issue 11: pymilvus, over Milvus Lite's own
        # loopback gRPC adapter in this process, instead of calling the engine.
        adapter = ClientSearcher(lite._connection.client)
        serving = lite.current()
        assert serving is not None
        service = SearchProcess(workdir, ids, vectors)
        backends: list[tuple[str, Query]] = [
            ("numpy brute force", lambda q: top_k(vectors, q, k)),
            (
                "Milvus Lite through its gRPC adapter (pymilvus)",
                lambda q: adapter.search(serving.collection, q[None], k, "IP", {}, False, 10.0),
            ),
            ("Milvus Lite, engine called in process", lambda q: lite.search(q, k)),
            ("Milvus Lite + batcher", lambda q: lite_batcher.search(q, k)),
            ("gRPC search service", lambda q: service.query(q, k)),
        ]
        closers = [lite_batcher.close, service.close, lite.close]
        if server_uri:
            server = IndexManager.open(server_uri, IndexConfig(prefix=f"bench{dim}"))
            current = server.current()
            version = current.version + 1 if current else 1
            server.build(version, ids, vectors)
            server.swap(version)
            server_batcher = SearchBatcher(server.search)
            backends.append(("Milvus server", lambda q: server.search(q, k)))
            backends.append(("Milvus server + batcher", lambda q: server_batcher.search(q, k)))
            closers = [server_batcher.close, server.close, *closers]
        for name, query in backends:
            for clients in (1, 16):
                p50, p99, qps = measure(query, vectors, clients, max(1, queries // clients))
                print(f"| {name} | {dim} | {clients} | {p50:.1f} | {p99:.1f} | {qps:.0f} |")
                sys.stdout.flush()
        for close in closers:
            close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 1280])
    parser.add_argument("--count", type=int, default=2100)
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--queries", type=int, default=400, help="queries per configuration")
    parser.add_argument("--server-uri", default="", help="a Milvus server, e.g. http://host:19530")
    args = parser.parse_args()
    print("| backend | dim | clients | p50 ms | p99 ms | queries/s |")
    print("|---|---|---|---|---|---|")
    for dim in args.dims:
        bench_dim(dim, args.count, args.k, args.queries, args.server_uri)


def top_k(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest inner products, best first."""
    scores = vectors @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


if __name__ == "__main__":
    main()
