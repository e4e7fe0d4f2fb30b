"""Signed-in people: a server-side session per browser, named by an unguessable cookie.

The session keeps the person's bearer token (never sent back to the browser), their name and
role, the CSRF token the pages send back on every state-changing request, and what undo needs:
the answers given from this session, last first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from services.security.principal import Role

COOKIE = "anneal_session"
DEFAULT_TTL_S = 12 * 3600.0


@dataclass(frozen=True)
class Answer:
    """One answer given from a session: which round and pair, under which idempotency key."""

    round: int
    pair_id: int
    idempotency_key: str


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    token: str
    name: str
    role: Role
    csrf_token: str
    expires_at: float
    answers: list[Answer] = field(default_factory=list)
    skipped: set[tuple[int, int]] = field(default_factory=set)

    def csrf_ok(self, presented: str | None) -> bool:
        """Whether ``presented`` is this session's CSRF token (constant-time)."""
        return presented is not None and hmac.compare_digest(presented, self.csrf_token)

    def public(self) -> dict[str, str]:
        """What the browser may see: never the bearer token."""
        return {"name": self.name, "role": self.role.value, "csrf_token": self.csrf_token}


class SessionStore:
    """Sessions in memory, at most ``max_sessions`` (oldest dropped), each for ``ttl_s``."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, token: str, name: str, role: Role) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            token=token,
            name=name,
            role=role,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=self._clock() + self._ttl,
        )
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of ``session_id``; None when unknown or expired."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[session_id]
                return None
            return session

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)
