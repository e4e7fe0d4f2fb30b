"""Runs batches of a stream concurrently and hands their results back in stream order.

Batches are cut while the stream is still arriving, so workers embed the first images while the
caller sends the rest; at most ``max_in_flight`` batches of one stream are running or waiting at a
time, which bounds the memory one stream can take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class OrderedBatches(Generic[Item, Result]):
    """Cuts items into batches of ``batch_size``, runs ``run`` on each in ``executor``."""

    def __init__(
        self,
        run: Callable[[list[Item]], Result],
        batch_size: int,
        max_in_flight: int,
        executor: Executor,
    ) -> None:
        if batch_size < 1 or max_in_flight < 1:
            raise ValueError("batch_size and max_in_flight must be at least 1")
        self._run = run
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._executor = executor

    def results(self, items: Iterable[Item]) -> Iterator[tuple[list[Item], Result]]:
        """Each batch with its result, in order; a failed batch raises its error here."""
        pending: deque[tuple[list[Item], Future[Result]]] = deque()
        batch: list[Item] = []
        try:
            for item in items:
                batch.append(item)
                if len(batch) < self._batch_size:
                    continue
                pending.append((batch, self._executor.submit(self._run, batch)))
                batch = []
                while pending and (len(pending) >= self._max_in_flight or pending[0][1].done()):
                    done, future = pending.popleft()
                    yield done, future.result()
            if batch:
                pending.append((batch, self._executor.submit(self._run, batch)))
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:  # the stream failed or the caller went away
                future.cancel()
