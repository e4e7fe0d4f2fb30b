"""Throughput accounting of the worker pool: a recent images-per-second rate and running totals."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Totals:
    """Images embedded since start and the worker time they took, split by stage."""

    images: int = 0
    decode_seconds: float = 0.0
    model_seconds: float = 0.0


class ThroughputMeter:
    """Counts embedded images; ``rate()`` is images per second over the last ``window_s``."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._clock = clock
        self._started = clock()
        self._events: deque[tuple[float, int]] = deque()
        self._totals = Totals()
        self._lock = threading.Lock()

    def record(self, images: int, decode_seconds: float, model_seconds: float) -> None:
        with self._lock:
            self._events.append((self._clock(), images))
            t = self._totals
            self._totals = Totals(
                t.images + images,
                t.decode_seconds + decode_seconds,
                t.model_seconds + model_seconds,
            )

    def rate(self) -> float:
        """Images per second over the window (or since start, if that is shorter)."""
        with self._lock:
            now = self._clock()
            while self._events and self._events[0][0] < now - self._window_s:
                self._events.popleft()
            span = min(self._window_s, now - self._started)
            count = sum(images for _, images in self._events)
        return count / span if span > 0 else 0.0

    def totals(self) -> Totals:
        with self._lock:
            return self._totals
