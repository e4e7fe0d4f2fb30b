"""Steps a round through its states: runs the state's handler and applies what it decided.

One step: the handler of the round's state (``round_states.HANDLERS``) runs; when it moves the
round on, the stage time is recorded and the new state (and, after SWAPPING, what serves) is
saved in one write. A transient failure is retried after the :class:`StepBackoff` delay; any
other failure fails the round with the reason (the previous index keeps serving). A SELECTING
failure is also kept for ``StartRound``, which returns it to its caller with its status code.
The machine does not wait or own a thread: :meth:`RoundMachine.step` returns the pause the worker
takes before the next step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from services.common.embedding_files import EmbeddingFiles
from services.coordinator.persisted_state import PersistedState
from services.coordinator.round_states import HANDLERS, STAGE_NAMES, RoundContext
from services.coordinator.round_status import RoundState, RoundStatus
from services.coordinator.round_work import RoundWork
from services.coordinator.step_backoff import StepBackoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pause:
    """How long the worker waits before the next step."""

    seconds: float
    until_change: bool = False
    """Whether a change of the state (``CloseRound``, a new round) ends the pause early."""


GO_ON = Pause(0.0)


class RoundMachine:
    """Advances the active round one state at a time, saving through :class:`PersistedState`."""

    def __init__(
        self,
        persisted: PersistedState,
        embeddings: EmbeddingFiles,
        backoff: StepBackoff,
        poll_s: float,
    ) -> None:
        self._persisted = persisted
        self._embeddings = embeddings
        self._backoff = backoff
        self._poll_s = poll_s
        self._start_errors: dict[int, Exception] = {}

    def step(self, work: RoundWork, status: RoundStatus) -> Pause:
        """Run the handler of ``status``'s state once and apply its outcome."""
        state = status.state
        started = time.perf_counter()
        try:
            outcome = HANDLERS[state](status, self._context(work, status))
        except Exception as exc:
            return self._failed(status, state, exc)
        self._backoff.succeeded()
        if outcome.next is None:
            if outcome.changed:
                self._persisted.save()
            return Pause(self._poll_s, until_change=True)
        if not outcome.redo and state in STAGE_NAMES:
            status.stage_seconds[STAGE_NAMES[state]] = time.perf_counter() - started
        with self._persisted.lock:
            if outcome.serving is not None:
                self._persisted.state.serving = outcome.serving
            self._persisted.transition(status, outcome.next)
        if outcome.next.finished:
            self._tidy_embeddings(status)
        return GO_ON

    def take_start_error(self, round_number: int) -> Exception | None:
        """Why the round's selection failed (once), for ``StartRound`` to raise to its caller."""
        with self._persisted.lock:
            return self._start_errors.pop(round_number, None)

    def _context(self, work: RoundWork, status: RoundStatus) -> RoundContext:
        with self._persisted.lock:
            state = self._persisted.state
            label_rounds = [r.round for r in state.rounds if r.pairs and r.round <= status.round]
            return RoundContext(work, state.serving, label_rounds, self._embeddings)

    def _failed(self, status: RoundStatus, state: RoundState, exc: Exception) -> Pause:
        delay = self._backoff.failed(exc)
        if delay is not None:
            log.warning(
                "round %d %s: transient failure %d, retrying in %.1fs: %s",
                status.round,
                state.value,
                self._backoff.failures,
                delay,
                exc,
            )
            return Pause(delay)
        log.error("round %d failed in %s: %s", status.round, state.value, exc)
        with self._persisted.lock:
            if state is RoundState.SELECTING:
                self._start_errors[status.round] = exc
            self._persisted.transition(status, RoundState.FAILED, f"{state.value}: {_reason(exc)}")
        self._tidy_embeddings(status)
        return GO_ON

    def _tidy_embeddings(self, status: RoundStatus) -> None:
        """A finished round: drop its version's embeddings unless they serve (FAILED before the
        swap) and those of versions older than the serving one and the one before it."""
        with self._persisted.lock:
            serving = self._persisted.state.serving.index_version
        if status.index_version > serving:
            self._embeddings.drop(status.index_version)
        self._embeddings.drop_older(serving)


def _reason(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    if callable(details):
        return f"{exc.code().name}: {details()}"  # type: ignore[attr-defined]
    return str(exc) or type(exc).__name__
