"""The authenticated caller of the call being served, for servicers that act on its identity.

The access interceptor sets it around each call it admits; ``current_caller()`` is None on a
server without access control (``--insecure``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from services.security.principal import Principal

_CALLER: ContextVar[Principal | None] = ContextVar("anneal_caller", default=None)


def current_caller() -> Principal | None:
    """Who makes the call being served (None when the server checks no credentials)."""
    return _CALLER.get()


@contextmanager
def acting_as(caller: Principal) -> Iterator[None]:
    """Makes ``caller`` the current caller inside the block."""
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        _CALLER.reset(token)
