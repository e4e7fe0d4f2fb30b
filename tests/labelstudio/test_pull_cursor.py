"""The pulls' cursor, by hand: which changes the next pull lists, and when the margin settles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.labelstudio.pull_cursor import PullCursor

MARGIN = timedelta(seconds=30)
T = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)  # Label Studio's clock


def test_before_any_pull_every_task_is_listed() -> None:
    assert PullCursor(7).listing_after(MARGIN) is None


def test_a_quiet_project_relists_its_margin_once_a_margin_later_then_nothing() -> None:
    first = PullCursor(7).advanced(T, began_unix=1000.0, margin=MARGIN, full=True)
    assert (first.changed_through, first.changed_seen_unix, first.full_pull_unix) == (
        T,
        1000.0,
        1000.0,
    )
    assert first.listing_after(MARGIN) == T - MARGIN
    soon = first.advanced(None, began_unix=1010.0, margin=MARGIN, full=False)
    assert soon.listing_after(MARGIN) == T - MARGIN  # 10 s on: not settled yet
    late = soon.advanced(None, began_unix=1030.0, margin=MARGIN, full=False)
    assert late.settled_through == T and late.listing_after(MARGIN) == T
    assert late.full_pull_unix == 1000.0  # only a full pull moves it


def test_a_newer_change_moves_the_cursor_and_settles_the_one_before() -> None:
    first = PullCursor(7).advanced(T, began_unix=1000.0, margin=MARGIN, full=True)
    newer = T + timedelta(seconds=50)
    moved = first.advanced(newer, began_unix=1040.0, margin=MARGIN, full=False)
    assert (moved.changed_through, moved.changed_seen_unix) == (newer, 1040.0)
    assert moved.settled_through == T
    assert moved.listing_after(MARGIN) == newer - MARGIN  # later than T: the window decides
    older = first.advanced(T - timedelta(seconds=5), began_unix=1001.0, margin=MARGIN, full=False)
    assert older.changed_through == T  # a late commit with an earlier time moves nothing
