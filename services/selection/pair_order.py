"""The order in which an annotator sees a round's pending pairs.

Everyone gets the round's pairs in the selection's order, but each annotator starts at a place
of their own: the list is rotated by a stable offset derived from the annotator's name. Several
annotators labelling at once then answer different pairs first instead of the same pair twice,
and each still walks the whole list; the same annotator always gets the same order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def offset_for(name: str, count: int) -> int:
    """Where ``name``'s walk through ``count`` pending pairs starts (0 for an empty list)."""
    if count == 0:
        return 0
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def for_annotator(pending: Sequence[T], name: str | None) -> list[T]:
    """``pending`` rotated to ``name``'s starting place; unchanged for no name."""
    if not name:
        return list(pending)
    start = offset_for(name, len(pending))
    return [*pending[start:], *pending[:start]]
