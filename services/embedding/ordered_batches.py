"""Runs batches of a stream concurrently and hands their results back in stream order.

Batches are cut while the stream is still arriving, so workers embed the first images while the
caller sends the rest; at most ``max_in_flight`` batches of one stream are running or waiting at a
time, which bounds the memory one stream can take. A batch is cut at ``batch_size`` items or
before its items' ``weight`` would pass ``max_weight`` (the embedding service weighs an image by
its decoded bytes, so one batch never asks a worker for more memory than that).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def _no_weight(item: object) -> int:
    return 0


class OrderedBatches(Generic[Item, Result]):
    """Cuts items into batches of ``batch_size`` (and ``max_weight``), runs ``run`` on each in
    ``executor``. An item heavier than ``max_weight`` on its own is a batch of one."""

    def __init__(
        self,
        run: Callable[[list[Item]], Result],
        batch_size: int,
        max_in_flight: int,
        executor: Executor,
        weight: Callable[[Item], int] = _no_weight,
        max_weight: int = 0,
    ) -> None:
        if batch_size < 1 or max_in_flight < 1 or max_weight < 0:
            raise ValueError("batch_size and max_in_flight must be at least 1, max_weight >= 0")
        self._run = run
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._executor = executor
        self._weight = weight
        self._max_weight = max_weight

    def results(self, items: Iterable[Item]) -> Iterator[tuple[list[Item], Result]]:
        """Each batch with its result, in order; a failed batch raises its error here."""
        pending: deque[tuple[list[Item], Future[Result]]] = deque()
        batch: list[Item] = []
        weight = 0

        def submitted() -> Iterator[tuple[list[Item], Result]]:
            """Submits ``batch``; yields the results the in-flight bound makes us wait for."""
            pending.append((batch, self._executor.submit(self._run, batch)))
            while pending and (len(pending) >= self._max_in_flight or pending[0][1].done()):
                done, future = pending.popleft()
                yield done, future.result()

        try:
            for item in items:
                item_weight = self._weight(item)
                if batch and 0 < self._max_weight < weight + item_weight:
                    yield from submitted()
                    batch, weight = [], 0
                batch.append(item)
                weight += item_weight
                if len(batch) == self._batch_size:
                    yield from submitted()
                    batch, weight = [], 0
            if batch:
                pending.append((batch, self._executor.submit(self._run, batch)))
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:  # the stream failed or the caller went away
                future.cancel()
