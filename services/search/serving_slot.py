"""The serving index version and the number of queries in flight on each version."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from services.search.errors import NoServingIndexError
from services.search.index_version import IndexVersion


class ServingSlot:
    """Holds the serving version; queries lease it so a retired version can drain before a drop.

    A query resolves the version once, at its start, and uses that collection to the end, so
    an answer always comes from one version and a swap never disturbs a query already running.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._current: IndexVersion | None = None
        self._in_flight: dict[int, int] = {}

    @property
    def current(self) -> IndexVersion | None:
        with self._cond:
            return self._current

    @contextmanager
    def lease(self) -> Iterator[IndexVersion]:
        """Yield the serving version, counted as in flight until the block exits."""
        with self._cond:
            leased = self._current
            if leased is None:
                raise NoServingIndexError("no index has been built and swapped in yet")
            self._in_flight[leased.version] = self._in_flight.get(leased.version, 0) + 1
        try:
            yield leased
        finally:
            self._release(leased.version)

    @contextmanager
    def hold(self, version: IndexVersion) -> Iterator[IndexVersion]:
        """Count ``version`` (serving or not) as in flight until the block exits.

        The caller makes sure ``version`` is not being retired when it enters (e.g. by looking
        it up under the lock its retirement is decided under); its drop then waits for the block.
        """
        with self._cond:
            self._in_flight[version.version] = self._in_flight.get(version.version, 0) + 1
        try:
            yield version
        finally:
            self._release(version.version)

    def _release(self, version: int) -> None:
        with self._cond:
            self._in_flight[version] -= 1
            if not self._in_flight[version]:
                del self._in_flight[version]
                self._cond.notify_all()

    def replace(self, new: IndexVersion) -> IndexVersion | None:
        """Make ``new`` the serving version; return the one it replaces."""
        with self._cond:
            old, self._current = self._current, new
            return old

    def in_flight(self, version: int) -> int:
        with self._cond:
            return self._in_flight.get(version, 0)

    def wait_drained(self, version: int, timeout_s: float) -> bool:
        """Wait until no query holds ``version``; False if ``timeout_s`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: version not in self._in_flight, timeout_s)
