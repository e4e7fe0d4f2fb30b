"""Retries with exponential back-off for Milvus steps that fail transiently."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pymilvus.exceptions import MilvusException

from services.search.errors import IndexNotReadyError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Run a step up to ``attempts`` times, sleeping ``delay_s * 2**i`` between tries.

    Only ``retry_on`` exceptions (Milvus errors, an index not answering yet) are retried: Milvus
    Lite was seen failing to load a collection right after a flush ("file seems not fully
    written") and succeeding seconds later. ``sleep`` is injectable so tests need not wait.
    """

    attempts: int = 5
    delay_s: float = 0.5
    retry_on: tuple[type[Exception], ...] = (MilvusException, IndexNotReadyError)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def run(self, what: str, step: Callable[[], T]) -> T:
        """Return ``step()``, retrying transient failures; re-raise the last one."""
        for attempt in range(1, self.attempts + 1):
            try:
                return step()
            except self.retry_on as exc:
                if attempt == self.attempts:
                    raise
                delay = self.delay_s * 2 ** (attempt - 1)
                log.warning(
                    "%s failed (try %d of %d), retrying in %.2fs: %s",
                    what,
                    attempt,
                    self.attempts,
                    delay,
                    exc,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")
