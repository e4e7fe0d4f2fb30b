"""How far a feature extraction is: images done of total, images/s and time left.

Fed by :func:`anneal.models.extract.extract_features` through its ``progress`` callback and read
from other threads (the coordinator's status and metrics). The rate is measured over a sliding
window, so the burst of images already in the feature store at the start is soon forgotten and
the time left follows the images actually computed. It keeps at most one sample per
``resolution_s``, so a million cached images read in a burst cost a few samples, not a million.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractionSnapshot:
    """One reading; ``seconds_left`` is None while the rate is unknown."""

    done: int
    total: int
    images_per_second: float
    seconds_left: float | None
    running: bool

    @property
    def started(self) -> bool:
        return self.total > 0


class ExtractionProgress:
    """Thread-safe progress of one extraction; call it as ``progress(done, total)``."""

    def __init__(
        self,
        window_s: float = 30.0,
        resolution_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._resolution_s = resolution_s
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()
        self._last = (0.0, 0)
        self._done = 0
        self._total = 0
        self._running = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        with self._lock:
            self._done, self._total = done, total
            self._running = done < total
            self._last = (now, done)
            if not self._samples or now - self._samples[-1][0] >= self._resolution_s:
                self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[1][0] > self._window_s:
                self._samples.popleft()

    def snapshot(self) -> ExtractionSnapshot:
        with self._lock:
            rate = 0.0
            if self._samples:
                (t0, d0), (t1, d1) = self._samples[0], self._last
                rate = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
            left = (self._total - self._done) / rate if rate > 0 else None
            if not self._running:
                left = 0.0 if self._total else None
            return ExtractionSnapshot(self._done, self._total, rate, left, self._running)
