"""When the supervisor restarts a service that died, and when it gives up.

Exponential back-off over the crashes of a sliding window: the first crash is restarted after
``initial_backoff_s``, each further crash within ``window_s`` waits ``multiplier`` times longer
(at most ``max_backoff_s``), and the ``max_crashes``-th crash within the window is not
restarted (a service that keeps dying needs a person: its log says why). Crashes older than the
window are forgotten, so a service that ran well for a while starts again from the short delay.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """Back-off and give-up rule; :meth:`history` tracks one service's crashes."""

    initial_backoff_s: float = 0.5
    multiplier: float = 2.0
    max_backoff_s: float = 8.0
    max_crashes: int = 5
    window_s: float = 120.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def __post_init__(self) -> None:
        if self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("need 0 <= initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1 or self.max_crashes < 1 or self.window_s <= 0:
            raise ValueError("need multiplier >= 1, max_crashes >= 1 and window_s > 0")

    def history(self) -> CrashHistory:
        return CrashHistory(self)


class CrashHistory:
    """The recent crashes of one service under a :class:`RestartPolicy`."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._crashes: deque[float] = deque()

    @property
    def recent(self) -> int:
        """Crashes within the window, as of now."""
        self._forget_old()
        return len(self._crashes)

    def crashed(self) -> float | None:
        """Record a crash now; seconds to wait before restarting, or None: give up."""
        self._crashes.append(self.policy.clock())
        count = self.recent
        if count >= self.policy.max_crashes:
            return None
        delay = self.policy.initial_backoff_s * self.policy.multiplier ** (count - 1)
        return float(min(delay, self.policy.max_backoff_s))

    def _forget_old(self) -> None:
        horizon = self.policy.clock() - self.policy.window_s
        while self._crashes and self._crashes[0] <= horizon:
            self._crashes.popleft()
