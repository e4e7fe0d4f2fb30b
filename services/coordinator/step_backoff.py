"""How long the coordinator waits before repeating a round step that failed transiently.

The rule is :class:`~services.cli.restart_policy.RestartPolicy`'s (the supervisor's rule for
restarting a service that died), not a second one: doubling back-off from 2 s, capped at 30 s,
over the failures since the step last worked; the 11th transient failure in a row fails the
round, as does any failure that is not transient (a bad argument, a round without labels).
Transient: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED from another service
(:func:`~services.coordinator.downstream.is_transient`), for outages longer than the retries
of a single call (a Ray cluster or the search service restarting).
"""

from __future__ import annotations

from collections.abc import Callable

from services.cli.restart_policy import CrashHistory, RestartPolicy
from services.coordinator.downstream import is_transient

STEP_POLICY = RestartPolicy(
    initial_backoff_s=2.0,
    multiplier=2.0,
    max_backoff_s=30.0,
    max_crashes=11,
    window_s=24 * 3600.0,  # every failure since the last step that worked
)


class StepBackoff:
    """Counts a round's transient failures in a row and says how long to wait after each."""

    def __init__(
        self,
        policy: RestartPolicy = STEP_POLICY,
        transient: Callable[[BaseException], bool] = is_transient,
    ) -> None:
        self._policy = policy
        self._transient = transient
        self._failures: CrashHistory = policy.history()

    def failed(self, exc: BaseException) -> float | None:
        """Seconds to wait before trying the step again; None: give up, fail the round."""
        if not self._transient(exc):
            self.succeeded()
            return None
        delay = self._failures.crashed()
        if delay is None:
            self.succeeded()
        return delay

    def succeeded(self) -> None:
        """The step worked (or the round failed): the next failure starts from the short delay."""
        self._failures = self._policy.history()

    @property
    def failures(self) -> int:
        """Transient failures since the last step that worked."""
        return self._failures.recent
