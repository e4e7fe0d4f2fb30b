"""How far the pulls of one Label Studio project got, and which tasks the next pull lists.

Label Studio has no change feed; its Data Manager filters tasks on ``updated_at``, which moves
when an annotation of the task is created, updated or deleted. A pull lists the tasks changed
after the latest change the pulls saw (``changed_through``, Label Studio's clock), less a
margin: a change saved just before a pull but committed after it carries an earlier time. The
margin is relisted until a pull has run a margin's length (our clock) after that latest change
was first seen; from then on (``settled_through``) a quiet project lists nothing, even after a
bulk import whose tasks all changed within the margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PullCursor:
    """The pulls' progress in one project; every field None or 0 before the first pull."""

    project_id: int
    changed_through: datetime | None = None
    """The latest task change any pull saw (Label Studio's clock)."""
    changed_seen_unix: float = 0.0
    """When (our clock) the pull that first saw ``changed_through`` began."""
    settled_through: datetime | None = None
    """Every change up to here has been seen: no late commit can still arrive before it."""
    full_pull_unix: float = 0.0
    """When (our clock) the last pull that listed every task began."""

    def listing_after(self, margin: timedelta) -> datetime | None:
        """The changes the next pull lists are after this time; None: list every task."""
        if self.changed_through is None:
            return None
        window = self.changed_through - margin
        if self.settled_through is None:
            return window
        return max(window, self.settled_through)

    def advanced(
        self, newest: datetime | None, began_unix: float, margin: timedelta, full: bool
    ) -> PullCursor:
        """The cursor after a pull that began at ``began_unix`` and saw ``newest`` as its
        latest change (None: no task)."""
        settled = self.settled_through
        if (
            self.changed_through is not None
            and began_unix - self.changed_seen_unix >= margin.total_seconds()
        ):
            settled = self.changed_through  # this pull relisted its margin late enough
        changed, seen = self.changed_through, self.changed_seen_unix
        if newest is not None and (changed is None or newest > changed):
            changed, seen = newest, began_unix
        return PullCursor(
            self.project_id,
            changed_through=changed,
            changed_seen_unix=seen,
            settled_through=settled,
            full_pull_unix=began_unix if full else self.full_pull_unix,
        )
