"""The coordinator's state in memory, saved after every change.

One lock guards it; every change is written to the state file (atomically, by
:class:`StateStore`), published as metrics and announced to whoever waits on it: ``StartRound``
waiting for its selection, ``WatchStatus`` streams, the worker waiting for a round.
"""

from __future__ import annotations

import logging
import threading

from services.coordinator.metrics import publish
from services.coordinator.round_status import RoundState, RoundStatus, now_ms
from services.coordinator.state_store import StateStore

log = logging.getLogger(__name__)


class PersistedState:
    """:class:`CoordinatorState` as stored, with the lock, the change counter and its waiters."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.generation = 0
        """Counts saves, so a watcher can tell whether anything changed since it last looked."""
        self.state = store.load()
        publish(self.state)

    def save(self) -> None:
        """Write the state, publish it and wake every waiter."""
        with self.changed:
            self._store.save(self.state)
            self.generation += 1
            publish(self.state)
            self.changed.notify_all()

    def transition(self, status: RoundStatus, state: RoundState, error: str = "") -> None:
        """Move ``status`` to ``state`` (with the reason when it failed) and save."""
        with self.lock:
            status.state = state
            status.error = error
            status.updated_at_ms = now_ms()
            self.save()
        log.info("round %d -> %s %s", status.round, state.value, error)

    def active_round(self) -> RoundStatus | None:
        """The latest round while it is not finished, else None."""
        with self.lock:
            latest = self.state.latest
            return latest if latest is not None and not latest.state.finished else None

    def wait(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the next change (or :meth:`wake`)."""
        with self.changed:
            self.changed.wait(timeout_s)

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()
