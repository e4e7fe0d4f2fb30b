"""The round state machine: one worker thread drives the current round through its states.

    SELECTING -> COLLECTING -> TRAINING -> EMBEDDING -> INDEXING -> SWAPPING -> DONE
    (or FAILED from any state; the previous index keeps serving, as only SWAPPING changes it)

The state is written to disk (atomically) after every transition. After a restart a round in
progress resumes: SELECTING and COLLECTING where they were (both are idempotent), a round past
COLLECTING from its checkpoint (TRAINING when it has none yet), or DONE if its index had already
been swapped in. Transient downstream failures are retried; anything else fails the round with
the reason. Before the first round the worker prepares the archive (backbone features) and
indexes it with the round-0 model (the bootstrap); StartRound waits for that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from anneal.al.round_parameters import RoundParameters
from services.common.errors import FailedPreconditionError, NotFoundError
from services.coordinator.downstream import is_transient
from services.coordinator.metrics import EVAL_MAP, ROUND, ROUND_STATE
from services.coordinator.round_runner import RoundRunner
from services.coordinator.round_status import (
    RoundState,
    RoundStatus,
    Serving,
    now_ms,
)
from services.coordinator.state_store import StateStore

log = logging.getLogger(__name__)

TRANSIENT_ATTEMPTS = 10
STAGE_NAMES = {
    RoundState.SELECTING: "selection",
    RoundState.TRAINING: "training",
    RoundState.EMBEDDING: "embedding",
    RoundState.INDEXING: "indexing",
    RoundState.SWAPPING: "swap",
}
NEXT_STATE = {
    RoundState.SELECTING: RoundState.COLLECTING,
    RoundState.COLLECTING: RoundState.TRAINING,
    RoundState.TRAINING: RoundState.EMBEDDING,
    RoundState.EMBEDDING: RoundState.INDEXING,
    RoundState.INDEXING: RoundState.SWAPPING,
    RoundState.SWAPPING: RoundState.DONE,
}


class Coordinator:
    """Round state, its persistence and the worker thread; the servicer calls the public methods."""

    def __init__(
        self,
        store: StateStore,
        prepare: Callable[[], RoundRunner],
        poll_s: float = 0.5,
        reconcile_s: float = 2.0,
    ) -> None:
        self._store = store
        self._prepare = prepare
        self._poll_s = poll_s
        self._reconcile_s = reconcile_s
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._generation = 0
        self._state = store.load()
        self._runner: RoundRunner | None = None
        self._not_ready = "preparing the archive (backbone features) and its first index"
        self._embeddings: tuple[int, np.ndarray] | None = None
        self._start_errors: dict[int, Exception] = {}
        self._transient_failures = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coordinator", daemon=True)
        self._recover()
        self._publish()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the worker after its current step (state stays on disk for the next start)."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _recover(self) -> None:
        latest = self._state.latest
        if latest is None or latest.state.finished:
            return
        if latest.state in (RoundState.EMBEDDING, RoundState.INDEXING, RoundState.SWAPPING):
            resume = (
                RoundState.EMBEDDING if Path(latest.checkpoint).is_file() else RoundState.TRAINING
            )
            if latest.state is RoundState.SWAPPING:
                resume = RoundState.SWAPPING  # checked against the search service once ready
            latest.state = resume
        log.info("resuming round %d in state %s", latest.round, latest.state.value)
        self._save()

    # -- persistence and metrics ----------------------------------------------------------------

    def _save(self) -> None:
        with self._changed:
            self._store.save(self._state)
            self._generation += 1
            self._publish()
            self._changed.notify_all()

    def _publish(self) -> None:
        latest = self._state.latest
        ROUND.set(latest.round if latest else 0)
        for state in RoundState:
            ROUND_STATE.labels(state.value).set(1 if latest and latest.state is state else 0)
        for key, value in self._state.serving.metrics.items():
            EVAL_MAP.labels(key.split("@")[1]).set(value)

    def _transition(self, status: RoundStatus, state: RoundState, error: str = "") -> None:
        with self._lock:
            status.state = state
            status.error = error
            status.updated_at_ms = now_ms()
            self._save()
        log.info("round %d -> %s %s", status.round, state.value, error)

    # -- RPC-facing methods ---------------------------------------------------------------------

    def start_round(
        self, strategy: str, budget: int, seed: int, close_when_answered: bool, timeout_s: float
    ) -> RoundStatus:
        """Open the next round and wait until its pairs are selected (or selection failed)."""
        RoundParameters(strategy, budget, seed)  # a ValueError names a bad strategy or budget
        with self._changed:
            if self._not_ready:
                raise FailedPreconditionError(
                    f"the coordinator is not ready: {self._not_ready}; retry shortly"
                )
            latest = self._state.latest
            if latest is not None and not latest.state.finished:
                raise FailedPreconditionError(
                    f"round {latest.round} is still {latest.state.value}; close it or wait for it"
                    " to finish before starting another"
                )
            status = RoundStatus(
                round=latest.round + 1 if latest else 1,
                strategy=strategy,
                budget=budget,
                seed=seed,
                close_when_answered=close_when_answered,
            )
            self._state.rounds.append(status)
            self._save()
            deadline = time.monotonic() + timeout_s
            while status.state is RoundState.SELECTING and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            error = self._start_errors.pop(status.round, None)
        if error is not None:
            raise error
        return status

    def close_round(self, round_number: int) -> RoundStatus:
        """End label collection of a COLLECTING round now."""
        status = self.status(round_number)
        if status is None:
            raise NotFoundError("there is no round yet; start one first")
        with self._changed:
            if status.state is not RoundState.COLLECTING:
                raise FailedPreconditionError(
                    f"round {status.round} is {status.state.value}, not collecting labels;"
                    " only a collecting round can be closed"
                )
            status.close_requested = True
            self._save()
        runner = self._runner
        if runner is not None:  # stop taking labels now; the worker moves on to training
            runner.close_labels(status)
        return status

    def status(self, round_number: int = 0) -> RoundStatus | None:
        """A round (0: the latest; None before the first); NotFoundError for an unknown one."""
        with self._lock:
            if round_number == 0:
                return self._state.latest
            found = self._state.find(round_number)
            if found is None:
                raise NotFoundError(
                    f"no round {round_number}; rounds so far: 1..{len(self._state.rounds)}"
                )
            return found

    def serving(self) -> Serving:
        with self._lock:
            return self._state.serving

    def rounds(self) -> list[RoundStatus]:
        with self._lock:
            return list(self._state.rounds)

    def watch(self, active: Callable[[], bool]) -> Iterator[tuple[RoundStatus | None, Serving]]:
        """The status now and after every change while ``active()``."""
        seen = -1
        while active() and not self._stopping.is_set():
            with self._changed:
                if self._generation == seen:
                    self._changed.wait(1.0)
                    continue
                seen = self._generation
                snapshot = (self._state.latest, self._state.serving)
            yield snapshot

    # -- the worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._runner = self._prepare()
        except Exception as exc:
            log.exception("preparing the archive failed")
            self._not_ready = f"preparing the archive failed: {exc}; fix it and restart"
            return
        last_reconcile = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_reconcile > self._reconcile_s:
                    self._ensure_serving(self._runner)
                    last_reconcile = time.monotonic()
            except Exception as exc:
                self._not_ready = f"indexing the archive failed ({exc}); retrying"
                log.warning("bootstrap: %s", exc)
                self._stopping.wait(self._reconcile_s)
                continue
            latest = self._state.latest
            if latest is None or latest.state.finished:
                with self._changed:
                    self._changed.wait(self._reconcile_s)
                continue
            self._advance(self._runner, latest)

    def _ensure_serving(self, runner: RoundRunner) -> None:
        serving = runner.bootstrap(self._state.serving)
        if serving is not self._state.serving:
            with self._lock:
                self._state.serving = serving
                self._save()
        runner.reconcile(serving)
        self._not_ready = ""

    def _advance(self, runner: RoundRunner, status: RoundStatus) -> None:
        state = status.state
        started = time.perf_counter()
        try:
            moved = self._step(runner, status)
        except Exception as exc:
            self._failed_step(status, state, exc)
            return
        self._transient_failures = 0
        if not moved:
            with self._changed:
                self._changed.wait(self._poll_s)
            return
        if state in STAGE_NAMES:
            status.stage_seconds[STAGE_NAMES[state]] = time.perf_counter() - started
        self._transition(status, NEXT_STATE[state])

    def _failed_step(self, status: RoundStatus, state: RoundState, exc: Exception) -> None:
        if is_transient(exc) and self._transient_failures < TRANSIENT_ATTEMPTS:
            self._transient_failures += 1
            log.warning("round %d %s: transient failure, retrying: %s", status.round, state, exc)
            self._stopping.wait(min(2.0**self._transient_failures, 30.0))
            return
        self._transient_failures = 0
        log.error("round %d failed in %s: %s", status.round, state.value, exc)
        with self._lock:
            if state is RoundState.SELECTING:
                self._start_errors[status.round] = exc
            self._transition(status, RoundState.FAILED, f"{state.value}: {_reason(exc)}")

    def _step(self, runner: RoundRunner, status: RoundStatus) -> bool:
        """Do the work of the round's state; True when the round moves to the next state."""
        state = status.state
        if state is RoundState.SELECTING:
            status.pairs = runner.select(status, self._state.serving.index_version)
        elif state is RoundState.COLLECTING:
            return self._collect(runner, status)
        elif state is RoundState.TRAINING:
            if status.labelled_pairs == 0:
                raise ValueError(
                    "the round was closed without any labelled pair; start a new round"
                )
            rounds = [r.round for r in self._state.rounds if r.pairs and r.round <= status.round]
            status.model_version, status.checkpoint = runner.train(status, rounds)
        elif state is RoundState.EMBEDDING:
            embeddings, status.metrics = runner.embed(status)
            self._embeddings = (status.round, embeddings)
        elif state is RoundState.INDEXING:
            return self._index(runner, status)
        elif state is RoundState.SWAPPING:
            return self._swap(runner, status)
        return True

    def _collect(self, runner: RoundRunner, status: RoundStatus) -> bool:
        labelled = runner.labelled_pairs(status)
        if labelled != status.labelled_pairs:
            status.labelled_pairs = labelled
            status.updated_at_ms = now_ms()
            self._save()
        answered = status.close_when_answered and labelled >= status.pairs
        if not (status.close_requested or answered):
            return False
        runner.close_labels(status)
        return True

    def _index(self, runner: RoundRunner, status: RoundStatus) -> bool:
        if self._embeddings is None or self._embeddings[0] != status.round:
            self._transition(status, RoundState.EMBEDDING)  # after a restart: embed again
            return False
        if status.index_version == 0:
            status.index_version = self._state.serving.index_version + 1
            self._save()
        started = time.perf_counter()
        build_seconds = runner.index(status, self._embeddings[1])
        status.stage_seconds["index_build"] = build_seconds or time.perf_counter() - started
        return True

    def _swap(self, runner: RoundRunner, status: RoundStatus) -> bool:
        info = runner.downstream.serving_index()
        if info is None or info.version < status.index_version:
            if self._embeddings is None or self._embeddings[0] != status.round:
                self._transition(status, RoundState.EMBEDDING)  # after a restart: rebuild
                return False
            runner.swap(status)
        with self._lock:
            self._state.serving = Serving(
                status.index_version, status.model_version, status.checkpoint, dict(status.metrics)
            )
            self._embeddings = None
        return True


def _reason(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    if callable(details):
        return f"{exc.code().name}: {details()}"  # type: ignore[attr-defined]
    return str(exc) or type(exc).__name__
