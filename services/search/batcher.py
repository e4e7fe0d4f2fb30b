"""Coalesces concurrent searches into one multi-vector search call.

One Milvus search of 16 vectors costs little more than a search of one, while 16 concurrent
single-vector searches queue up behind each other (and, with Milvus Lite, behind the GIL). A
worker takes the first waiting request, gathers whatever else arrives within ``max_wait_s``
(up to ``max_rows`` query vectors), runs one search with the largest k, and hands each caller
its own rows cut to its own k. It waits only while searches come concurrently (the batch before
had more than one request): a lone client never waits, and under load a short wait fills the
batches (measured with the search service, 16 clients: 0.5 ms took 786 to 1,064 queries/s and
p99 from 38 to 24 ms; docs/BENCHMARKS.md, issue 11). Every caller of a batch sees the same
index version; a request pinned to a version (its vectors were read from it) is searched on that
version, together with the others pinned to it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from services.search.index_version import IndexVersion
from services.search.query_checks import as_queries, check_k
from services.search.search_result import SearchResult

DEFAULT_BATCH_WAIT_S = 0.0005
"""The services' wait for a batch to fill while searches come concurrently (see the module)."""


class SearchFn(Protocol):
    """``search(vectors, k, version)``: on ``version``, or the serving one if None."""

    def __call__(
        self, vectors: np.ndarray, k: int, version: IndexVersion | None = None
    ) -> SearchResult: ...


@dataclass
class _Request:
    queries: np.ndarray
    k: int
    version: IndexVersion | None
    future: Future[SearchResult] = field(default_factory=Future)


class SearchBatcher:
    """Runs ``search(vectors, k)`` for many callers in few calls; see the module doc."""

    def __init__(
        self,
        search: SearchFn,
        max_rows: int = 256,
        max_wait_s: float = 0.0,
        workers: int = 1,
    ) -> None:
        if max_rows < 1 or workers < 1 or max_wait_s < 0:
            raise ValueError("max_rows and workers must be at least 1, max_wait_s at least 0")
        self._search = search
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._concurrent = False
        """Whether the last batch held more than one request: only then is waiting worth it."""
        self._closed = False
        self._workers = [
            threading.Thread(target=self._work, name=f"search-batcher-{i}", daemon=True)
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def search(
        self,
        vectors: np.ndarray | Sequence[Sequence[float]],
        k: int,
        timeout_s: float | None = None,
        version: IndexVersion | None = None,
    ) -> SearchResult:
        """Like the wrapped search; bad k or vectors fail here, alone, before any batching.

        ``version``: search that version (the caller holds it until this returns), not the
        serving one.
        """
        if self._closed:
            raise RuntimeError("the search batcher is closed")
        check_k(k)
        request = _Request(as_queries(vectors), k, version)
        self._queue.put(request)
        try:
            return request.future.result(timeout_s)
        except TimeoutError:
            request.future.cancel()
            raise TimeoutError(f"search did not finish within {timeout_s:.3f}s") from None

    def close(self) -> None:
        """Stop the workers after the requests already queued."""
        self._closed = True
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._run(batch)
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """The first request plus those arriving soon after; True if a stop came in too."""
        batch, rows = [first], len(first.queries)
        deadline = time.monotonic() + (self._max_wait_s if self._concurrent else 0.0)
        while rows < self._max_rows:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
            rows += len(item.queries)
        self._concurrent = len(batch) > 1
        return batch, False

    def _run(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        groups: dict[tuple[int, int], list[_Request]] = {}
        for request in live:
            pinned = request.version.version if request.version else 0
            groups.setdefault((pinned, request.queries.shape[1]), []).append(request)
        for group in groups.values():
            self._run_group(group)

    def _run_group(self, group: list[_Request]) -> None:
        stacked = np.concatenate([r.queries for r in group]) if len(group) > 1 else group[0].queries
        try:
            result = self._search(stacked, max(r.k for r in group), group[0].version)
        except Exception as exc:
            for request in group:
                request.future.set_exception(exc)
            return
        start = 0
        for request in group:
            rows = result.hits[start : start + len(request.queries)]
            start += len(request.queries)
            request.future.set_result(
                SearchResult(result.version, result.model_version, [h[: request.k] for h in rows])
            )
