"""How input is quoted in status messages, and the last check on every message sent.

A message names what was wrong (``no image 'a/b.png' in the index``) but never echoes input
without bound: :func:`shown` quotes at most :data:`QUOTE_CHARS` characters and says how long
the rest was (its home is anneal/shown.py, so the core library quotes the same way).
:func:`cleaned` is applied to every message at the servicer boundary
(services/common/errors.py): one line, no object repr (``<_io.BytesIO object at 0x...>``), no
traceback, at most :data:`MAX_MESSAGE_CHARS` characters. :func:`is_clean` is what the tests hold
every reply to.
"""

from __future__ import annotations

import re

from anneal.shown import QUOTE_CHARS as QUOTE_CHARS
from anneal.shown import shown as shown

PATH_CHARS = 240
"""The quote limit for a file path the caller sent (paths are longer than ids)."""
MAX_MESSAGE_CHARS = 1000

_OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")
_SOURCE_PATH = re.compile(r"""(File "|[\w.-]+/)[\w./-]*\.py\b|site-packages|Traceback \(most""")


def cleaned(message: str) -> str:
    """``message`` as a client may see it: its first line, object reprs reduced to their type,
    at most :data:`MAX_MESSAGE_CHARS` characters."""
    first, newline, _rest = message.strip().partition("\n")
    text = _OBJECT_REPR.sub(r"<\1>", first)
    if newline:
        text += " (details in the server log)"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 20] + f"…({len(text)} chars)"
    return text


def is_clean(message: str) -> bool:
    """Whether a status message is one bounded line with no object repr, traceback or source
    path."""
    return (
        len(message) <= MAX_MESSAGE_CHARS
        and "\n" not in message
        and not _OBJECT_REPR.search(message)
        and not _SOURCE_PATH.search(message)
    )
