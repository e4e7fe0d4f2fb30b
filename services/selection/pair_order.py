"""The order in which an annotator sees a round's pending pairs.

Everyone gets the round's pairs in the selection's order, but each annotator starts at a place
of their own: the round's list is rotated by a stable offset derived from the annotator's name
and the round's size, and answered pairs drop out of it. Several annotators labelling at once
then answer different pairs first instead of the same pair twice; each still walks the whole
list; and the order of what is left does not move as answers arrive (a page that shows the next
pair before the server confirms the last answer shows the pair the server will name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def offset_for(name: str, count: int) -> int:
    """Where ``name``'s walk through a round of ``count`` pairs starts (0 for an empty round)."""
    if count == 0:
        return 0
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def for_annotator(
    pending: Sequence[T], name: str | None, round_size: int, position: Callable[[T], int]
) -> list[T]:
    """``pending`` (pairs at ``position`` 0..round_size-1) in ``name``'s order; as is for none."""
    if not name or round_size == 0:
        return list(pending)
    start = offset_for(name, round_size)
    return sorted(pending, key=lambda item: (position(item) - start) % round_size)
