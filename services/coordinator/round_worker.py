"""The coordinator's one worker thread: prepares the archive, keeps an index serving, steps rounds.

Before the first round it prepares the archive (backbone features) and indexes it with the
round-0 model (the bootstrap); ``StartRound`` is refused until then (:attr:`RoundWorker.
not_ready` says why). Every ``reconcile_s`` it checks that the serving index still exists (the
search service may have lost it) and that the embedding service holds the serving model. In
between it steps the active round with the :class:`RoundMachine`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from services.coordinator.persisted_state import PersistedState
from services.coordinator.round_machine import RoundMachine
from services.coordinator.round_work import RoundWork

log = logging.getLogger(__name__)


class RoundWorker:
    """The thread; ``prepare`` builds the :class:`RoundWork` (minutes at first start)."""

    def __init__(
        self,
        persisted: PersistedState,
        machine: RoundMachine,
        prepare: Callable[[], RoundWork],
        reconcile_s: float,
    ) -> None:
        self._persisted = persisted
        self._machine = machine
        self._prepare = prepare
        self._reconcile_s = reconcile_s
        self.work: RoundWork | None = None
        """Set once prepared."""
        self.not_ready = "preparing the archive (backbone features) and its first index"
        """Why rounds cannot start yet; empty once an index serves."""
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coordinator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Stop after the current step (the state stays on disk for the next start)."""
        self.stopping.set()
        self._persisted.wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            work = self.work = self._prepare()
        except Exception as exc:
            log.exception("preparing the archive failed")
            self.not_ready = f"preparing the archive failed: {exc}; fix it and restart"
            return
        last_reconcile = 0.0
        while not self.stopping.is_set():
            try:
                if time.monotonic() - last_reconcile > self._reconcile_s:
                    self._ensure_serving(work)
                    last_reconcile = time.monotonic()
            except Exception as exc:
                self.not_ready = f"indexing the archive failed ({exc}); retrying"
                log.warning("bootstrap: %s", exc)
                self.stopping.wait(self._reconcile_s)
                continue
            status = self._persisted.active_round()
            if status is None:
                self._persisted.wait(self._reconcile_s)
                continue
            pause = self._machine.step(work, status)
            if pause.until_change:
                self._persisted.wait(pause.seconds)
            elif pause.seconds > 0:
                self.stopping.wait(pause.seconds)

    def _ensure_serving(self, work: RoundWork) -> None:
        with self._persisted.lock:
            serving = self._persisted.state.serving
        bootstrapped = work.bootstrap(serving)
        if bootstrapped is not serving:
            with self._persisted.lock:
                self._persisted.state.serving = bootstrapped
                self._persisted.save()
        work.reconcile(bootstrapped)
        self.not_ready = ""
