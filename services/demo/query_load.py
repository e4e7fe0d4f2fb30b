"""Clients that query the system all the time and record every answer.

Each client queries random archive images by id (k hits, the query image left out) through
the retrieval service and records latency, the index version that answered, the number of hits
and any error.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import numpy as np

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

Query = Callable[[str, int], tuple[int, int]]
"""(image id, k) -> (index version that answered, hits returned)."""


def retrieval_query(channel: grpc.Channel) -> Query:
    stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)

    def run(image_id: str, k: int) -> tuple[int, int]:
        request = retrieval_pb2.RetrieveRequest(
            query=retrieval_pb2.Query(image_id=image_id), k=k, exclude_query_image=True
        )
        reply = stub.Retrieve(request, timeout=10)
        return int(reply.index_version), len(reply.hits)

    return run


def paced(query: Query, rate: float) -> Query:
    """``query`` sending at most ``rate`` calls a second (0: no limit)."""

    def run(image_id: str, k: int) -> tuple[int, int]:
        started = time.monotonic()
        try:
            return query(image_id, k)
        finally:
            if rate > 0:
                time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - started)))

    return run


@dataclass(frozen=True)
class Answer:
    at: float
    seconds: float
    version: int
    hits: int
    error: str


@dataclass(frozen=True)
class LoadStats:
    calls: int
    errors: int
    incomplete: int
    p50_ms: float
    p99_ms: float
    versions_backwards: int


class QueryLoad:
    """``clients`` threads querying until :meth:`stop`; answers are kept per client."""

    def __init__(self, query: Query, ids: Sequence[str], k: int = 10, clients: int = 2) -> None:
        self._query = query
        self._ids = list(ids)
        self._k = k
        self._stop = threading.Event()
        self.answers: list[list[Answer]] = [[] for _ in range(clients)]
        self._threads = [
            threading.Thread(target=self._client, args=(i,), name=f"query-{i}", daemon=True)
            for i in range(clients)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _client(self, number: int) -> None:
        rng = random.Random(number)
        out = self.answers[number]
        while not self._stop.is_set():
            image_id = rng.choice(self._ids)
            started = time.perf_counter()
            try:
                version, hits = self._query(image_id, self._k)
                error = ""
            except grpc.RpcError as exc:
                version, hits, error = 0, 0, f"{exc.code().name}: {exc.details()}"
            out.append(
                Answer(time.monotonic(), time.perf_counter() - started, version, hits, error)
            )

    def stats(self, since: float = 0.0, until: float = float("inf")) -> LoadStats:
        """Statistics of the answers received in [since, until) (monotonic clock)."""
        window = [[a for a in list(c) if since <= a.at < until] for c in self.answers]
        flat = [a for c in window for a in c]
        ok = [a.seconds * 1000 for a in flat if not a.error]
        backwards = 0
        for client in window:
            versions = [a.version for a in client if not a.error]
            backwards += sum(1 for x, y in itertools.pairwise(versions) if y < x)
        return LoadStats(
            calls=len(flat),
            errors=sum(1 for a in flat if a.error),
            incomplete=sum(1 for a in flat if not a.error and a.hits != self._k),
            p50_ms=float(np.percentile(ok, 50)) if ok else float("nan"),
            p99_ms=float(np.percentile(ok, 99)) if ok else float("nan"),
            versions_backwards=backwards,
        )

    def first_errors(self, limit: int = 3) -> list[str]:
        return [a.error for c in self.answers for a in c if a.error][:limit]
