"""How a value the caller gave is quoted in an error message: named, but never echoed without
bound (the services' status messages quote with this too: services/common/shown.py)."""

from __future__ import annotations

QUOTE_CHARS = 64


def shown(value: object, limit: int = QUOTE_CHARS) -> str:
    """``value`` quoted for a message: ``'abc'``, or ``'abcd'…(10000 chars)`` past ``limit``
    characters (a value that is not a string: its repr, cut the same way)."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}…({len(value)} chars)"
