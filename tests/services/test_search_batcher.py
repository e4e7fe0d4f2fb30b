"""SearchBatcher's wait: none for a lone search, a short one while searches come concurrently.

A fake search function (no Milvus) that records the number of query rows of each call and can be
held, so the order of arrivals is set by the test, not by timing luck.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from services.search.batcher import SearchBatcher
from services.search.index_version import IndexVersion
from services.search.search_result import Hit, SearchResult

WAIT_S = 1.0


class HeldSearch:
    """Answers every query row with one hit; the first call waits until released."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(
        self, vectors: np.ndarray, k: int, version: IndexVersion | None = None
    ) -> SearchResult:
        if not self.batches:
            self.first_started.set()
            self.release.wait(10)
        self.batches.append(len(vectors))
        return SearchResult(1, "m", [[Hit("a", 1.0, {})] for _ in vectors])


def query() -> np.ndarray:
    return np.ones((1, 2), np.float32)


def test_a_lone_search_does_not_wait_for_company() -> None:
    search = HeldSearch()
    search.release.set()
    batcher = SearchBatcher(search, max_wait_s=WAIT_S)
    started = time.monotonic()
    batcher.search(query(), 1)
    batcher.close()
    assert time.monotonic() - started < WAIT_S / 2


def test_while_searches_come_concurrently_a_batch_waits_for_the_next() -> None:
    search = HeldSearch()
    batcher = SearchBatcher(search, max_wait_s=WAIT_S)
    with ThreadPoolExecutor(4) as pool:
        held = pool.submit(batcher.search, query(), 1)
        assert search.first_started.wait(10)
        queued = [pool.submit(batcher.search, query(), 1) for _ in range(2)]
        time.sleep(0.1)  # both queued behind the held call
        search.release.set()
        for done in [held, *queued]:
            done.result(10)
        assert search.batches == [1, 2]  # the two queued ones shared a call: concurrent
        later: list[Future[SearchResult]] = [pool.submit(batcher.search, query(), 1)]
        time.sleep(0.2)  # arrives within the wait the concurrent batch earned
        later.append(pool.submit(batcher.search, query(), 1))
        for done in later:
            done.result(10)
    batcher.close()
    assert search.batches == [1, 2, 2]
