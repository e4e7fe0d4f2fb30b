"""Checks presented bearer tokens against the token file, re-reading it when it changes.

The file is looked at (``stat``) at most every ``reload_interval_s`` seconds and re-read when
its modification time, size or inode changed, so a revocation or a rotated Kubernetes Secret
takes effect within the interval without a restart. A file that is missing or unreadable fails
closed: no token is accepted until it is fixed (logged once per change).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from services.security.principal import Role
from services.security.tokens import TokenError, TokenRecord, read_tokens, split_token

_log = logging.getLogger(__name__)

DEFAULT_RELOAD_INTERVAL_S = 5.0
_UNKNOWN = TokenRecord("", "", Role.READER, "00", "0" * 64, 0.0, 0.0)


class TokenVerifier:
    """Verifies ``anl.<id>.<secret>`` tokens; thread-safe, cheap on the hot path."""

    def __init__(
        self,
        path: Path,
        reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path)
        self._interval = reload_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, TokenRecord] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._problem = ""
        self._failure = ""
        self._refresh(force=True)

    @property
    def path(self) -> Path:
        return self._path

    def verify(self, token: str) -> TokenRecord:
        """The active record of ``token``; TokenError saying why it is refused otherwise."""
        token_id, secret = split_token(token)
        self._refresh()
        record = self._by_id.get(token_id)
        if record is None:
            _UNKNOWN.matches(secret)  # the same work as for a known id: no timing oracle
            raise TokenError(f"the token is not known to this server{self._problem}")
        if not record.matches(secret):
            raise TokenError("the token is not known to this server")
        state = record.state(self._clock())
        if state == "revoked":
            raise TokenError(f"the token {record.id} of {record.name} was revoked")
        if state == "expired":
            raise TokenError(
                f"the token {record.id} of {record.name} expired; ask for a new one "
                "(`anneal token create`)"
            )
        return record

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self._interval:
            return
        with self._lock:
            if not force and now - self._checked_at < self._interval:
                return
            self._checked_at = now
            try:
                info = os.stat(self._path)
            except OSError as exc:
                self._fail(f"cannot read the token file {self._path}: {exc.strerror}")
                return
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            if stamp == self._stamp:
                return
            try:
                records = read_tokens(self._path)
            except (OSError, RuntimeError) as exc:
                self._fail(str(exc))
                return
            self._by_id = {record.id: record for record in records}
            self._stamp = stamp
            self._problem = self._failure = ""
            _log.info("loaded %d tokens from %s", len(records), self._path)

    def _fail(self, problem: str) -> None:
        if problem != self._failure:
            _log.error("%s; refusing every token until it is fixed", problem)
            self._failure = problem
        self._by_id = {}
        self._stamp = None
        self._problem = " (its token file is unreadable)"
