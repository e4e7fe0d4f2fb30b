"""Hands idle workers to waiting batches fairly: the waiter whose caller holds fewest workers first.

One EmbedImages stream may have several batches waiting for a worker (``OrderedBatches`` keeps
two per worker in flight). With a first-come queue, a query of one image that arrives behind a
long stream waits for every batch the stream queued before it; here it waits only for the next
worker to come free, because its caller holds none. Among callers holding as many workers, the
earliest waiter goes first. A worker is given back only when its task has ended (not when its
caller stopped waiting), so a worker still busy is never handed out.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

Worker = TypeVar("Worker")


class FairDispatcher(Generic[Worker]):
    """Idle workers, and the callers waiting for them (by an owner key per caller)."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self._idle: deque[Worker] = deque(workers)
        self._held: Counter[Hashable] = Counter()
        self._waiting: dict[int, Hashable] = {}  # ticket -> owner
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def acquire(self, owner: Hashable, timeout_s: float | None) -> Worker:
        """An idle worker for ``owner``; TimeoutError if none is its turn within ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            ticket = next(self._tickets)
            self._waiting[ticket] = owner
            try:
                while not (self._idle and self._next_ticket() == ticket):
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(
                            f"no embedding worker became free within {timeout_s:.2f}s; all are busy"
                        )
                    self._changed.wait(left)
                self._held[owner] += 1
                return self._idle.popleft()
            finally:
                del self._waiting[ticket]
                self._changed.notify_all()

    def release(self, worker: Worker, owner: Hashable) -> None:
        """Gives ``worker`` back (its task has ended)."""
        with self._changed:
            self._idle.append(worker)
            self._held[owner] -= 1
            if self._held[owner] <= 0:
                del self._held[owner]
            self._changed.notify_all()

    def _next_ticket(self) -> int:
        return min(self._waiting, key=lambda ticket: (self._held[self._waiting[ticket]], ticket))
