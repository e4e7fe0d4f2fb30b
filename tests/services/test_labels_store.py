"""The label store on its own: rounds, pairs, idempotency, refusals, the disagreement rule,
withdrawals and the upgrade of a database made by the first schema."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from anneal.al.resolution import MajorityVote, Vote
from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
)
from services.labels.records import (
    ImagePair,
    Intake,
    LabelSubmission,
    SubmitOutcome,
    Withdrawal,
)
from services.labels.store import SCHEMA_VERSION, LabelStore

AB = ImagePair.canonical("a", "b")
CD = ImagePair.canonical("c", "d")


def label(
    key: str,
    similar: bool = True,
    annotator: str = "ann1",
    pair_id: int | None = 0,
    images: ImagePair | None = None,
    round_number: int = 1,
) -> LabelSubmission:
    return LabelSubmission(
        round_number, None if images else pair_id, images, similar, annotator, key
    )


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    store = LabelStore(tmp_path / "labels.db", clock_ms=lambda: 1000)
    store.open_round(1, [AB, CD])
    return store


def test_pairs_are_canonical() -> None:
    assert ImagePair.canonical("b", "a") == ImagePair("a", "b")
    with pytest.raises(ValueError, match="two different images"):
        ImagePair.canonical("a", "a")
    with pytest.raises(ValueError, match="empty"):
        ImagePair.canonical("", "a")


def test_open_round_is_idempotent_and_refuses_other_pairs(store: LabelStore) -> None:
    pairs, created = store.open_round(1, [AB, CD])
    assert not created
    assert [(p.pair_id, p.pair) for p in pairs] == [(0, AB), (1, CD)]
    with pytest.raises(AlreadyExistsError, match="other pairs"):
        store.open_round(1, [CD, AB])
    with pytest.raises(ValueError, match="more than once"):
        store.open_round(2, [AB, ImagePair.canonical("b", "a")])
    with pytest.raises(ValueError, match=">= 1"):
        store.open_round(0, [AB])
    with pytest.raises(ValueError, match="1 to"):
        store.open_round(2, [])


def test_wal_mode_is_on(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "x.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_submit_then_resubmit_is_duplicate(store: LabelStore) -> None:
    [receipt] = store.submit([label("k1")])
    assert receipt.outcome is SubmitOutcome.ACCEPTED and receipt.first_for_pair
    # The same pair named by its images, the other way round, is the same label.
    [again] = store.submit([label("k1", images=ImagePair.canonical("b", "a"))])
    assert again.outcome is SubmitOutcome.DUPLICATE
    assert again.label == receipt.label
    assert len(store.labels(1)) == 1


def test_same_key_with_other_answer_is_refused_and_changes_nothing(store: LabelStore) -> None:
    store.submit([label("k1", similar=True)])
    with pytest.raises(AlreadyExistsError, match="different label"):
        store.submit([label("k1", similar=False)])
    assert [lab.similar for lab in store.labels(1)] == [True]


def test_batch_is_all_or_none(store: LabelStore) -> None:
    with pytest.raises(NotFoundError, match="label 1: round 1 has no pair 7"):
        store.submit([label("k1"), label("k2", pair_id=7)])
    assert store.labels(1) == []
    with pytest.raises(ValueError, match="also used by label 0"):
        store.submit([label("k1"), label("k1", annotator="ann2")])


def test_refusals(store: LabelStore) -> None:
    with pytest.raises(NotFoundError, match="round 9 does not exist"):
        store.submit([label("k1", round_number=9)])
    with pytest.raises(NotFoundError, match=r"pair \(a, c\) is not in round 1"):
        store.submit([label("k1", images=ImagePair.canonical("c", "a"))])
    with pytest.raises(ValueError, match="annotator_id is empty"):
        store.submit([label("k1", annotator="")])
    with pytest.raises(ValueError, match="at most 200"):
        store.submit([label("k" * 201)])
    store.submit([label("k1", annotator="ann1")])
    with pytest.raises(AlreadyExistsError, match="already answered pair 0"):
        store.submit([label("k2", annotator="ann1", similar=False)])


def test_closed_round_refuses_new_labels_but_answers_retries(store: LabelStore) -> None:
    store.submit([label("k1")])
    assert store.close_round(1) is True
    assert store.close_round(1) is False
    with pytest.raises(FailedPreconditionError, match="round 1 is closed"):
        store.submit([label("k2", annotator="ann2")])
    [retry] = store.submit([label("k1")])
    assert retry.outcome is SubmitOutcome.DUPLICATE
    assert store.progress(1).intake is Intake.CLOSED
    with pytest.raises(NotFoundError):
        store.close_round(5)


def test_majority_vote_and_tie_goes_to_earliest() -> None:
    rule = MajorityVote()
    assert rule.resolve([Vote(False, 1), Vote(True, 2), Vote(True, 3)]) is True
    assert rule.resolve([Vote(True, 1), Vote(False, 2), Vote(False, 3)]) is False
    assert rule.resolve([Vote(False, 5), Vote(True, 4)]) is True  # tie: sequence 4 is earliest
    assert rule.resolve([Vote(False, 4), Vote(True, 5)]) is False


def test_disagreements_are_kept_and_resolved(store: LabelStore) -> None:
    # Pair 0: ann1 says dissimilar first, then ann2 and ann3 say similar -> similar (2 to 1).
    # Pair 1: ann1 similar, then ann2 dissimilar -> tie -> the earliest answer: similar.
    store.submit(
        [
            label("k1", similar=False, annotator="ann1", pair_id=0),
            label("k2", similar=True, annotator="ann1", pair_id=1),
        ]
    )
    store.submit(
        [
            label("k3", similar=True, annotator="ann2", pair_id=0),
            label("k4", similar=False, annotator="ann2", pair_id=1),
            label("k5", similar=True, annotator="ann3", pair_id=0),
        ]
    )
    resolved = {
        r.pair.pair_id: (r.similar, r.votes_similar, r.votes_dissimilar)
        for r in store.resolved_labels(1)
    }
    assert resolved == {0: (True, 2, 1), 1: (True, 1, 1)}
    assert len(store.labels(1)) == 5
    progress = store.progress(1)
    assert (progress.pairs, progress.labelled_pairs, progress.labels) == (2, 2, 5)
    assert (progress.annotators, progress.disagreements) == (3, 2)


def test_pairs_and_paging(store: LabelStore) -> None:
    store.submit([label("k1", pair_id=1)])
    assert [p.pair_id for p in store.pairs(1)] == [0, 1]
    assert [p.pair_id for p in store.pairs(1, only_unlabelled=True)] == [0]
    store.submit([label("k2", pair_id=0), label("k3", pair_id=0, annotator="ann2")])
    first = store.labels(1, limit=2)
    rest = store.labels(1, after_sequence=first[-1].sequence, limit=2)
    assert [lab.idempotency_key for lab in first + rest] == ["k1", "k2", "k3"]


def test_labels_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    store = LabelStore(path)
    store.open_round(1, [AB])
    store.submit([label("k1")])
    store.close()
    reopened = LabelStore(path)
    assert [lab.idempotency_key for lab in reopened.labels(1)] == ["k1"]
    assert reopened.open_round(1, [AB])[1] is False


def withdraw(
    store: LabelStore, key: str, annotator: str = "ann1", round_number: int = 1
) -> tuple[bool, int | None]:
    """Withdraws; (whether this call withdrew it, when it was withdrawn)."""
    label, withdrawn = store.withdraw(Withdrawal(round_number, key, annotator))
    assert label.idempotency_key == key and label.annotator_id == annotator
    return withdrawn, label.withdrawn_at_ms


@pytest.fixture
def ticking(tmp_path: Path) -> LabelStore:
    """A store whose clock reads 1000, 2000, 3000... (one tick per stored row or withdrawal)."""
    ticks = itertools.count(1000, 1000)
    store = LabelStore(tmp_path / "ticking.db", clock_ms=lambda: next(ticks))
    store.open_round(1, [AB, CD])  # opened at 1000
    return store


def test_a_withdrawn_answer_is_kept_but_counts_nowhere(store: LabelStore) -> None:
    # Pair 0: ann1 similar (k1), then ann2 dissimilar (k2): a tie, the earliest wins -> similar.
    # Pair 1: ann1 similar (k3).
    store.submit([label("k1", similar=True, annotator="ann1", pair_id=0)])
    store.submit([label("k2", similar=False, annotator="ann2", pair_id=0)])
    store.submit([label("k3", similar=True, annotator="ann1", pair_id=1)])
    resolved = {
        r.pair.pair_id: (r.similar, r.votes_similar, r.votes_dissimilar)
        for r in store.resolved_labels(1)
    }
    assert resolved == {0: (True, 1, 1), 1: (True, 1, 0)}

    assert withdraw(store, "k1") == (True, 1000)
    # Pair 0 is now ann2's dissimilar alone; ann1 still counts as an annotator (pair 1).
    resolved = {
        r.pair.pair_id: (r.similar, r.votes_similar, r.votes_dissimilar)
        for r in store.resolved_labels(1)
    }
    assert resolved == {0: (False, 0, 1), 1: (True, 1, 0)}
    progress = store.progress(1, annotator_id="ann1")
    assert (progress.pairs, progress.labelled_pairs, progress.labels) == (2, 2, 2)
    assert (progress.annotators, progress.disagreements, progress.annotator_labels) == (2, 0, 1)
    assert [lab.idempotency_key for lab in store.labels(1)] == ["k2", "k3"]
    everything = store.labels(1, include_withdrawn=True)
    assert [(lab.idempotency_key, lab.withdrawn_at_ms) for lab in everything] == [
        ("k1", 1000),
        ("k2", None),
        ("k3", None),
    ]
    assert store.pairs(1, only_unlabelled=True) == []

    # ann2 withdraws too: pair 0 has no answer that counts, so it is pending again.
    assert withdraw(store, "k2", annotator="ann2") == (True, 1000)
    assert [p.pair_id for p in store.pairs(1, only_unlabelled=True)] == [0]
    assert [r.pair.pair_id for r in store.resolved_labels(1)] == [1]
    progress = store.progress(1, annotator_id="ann2")
    assert (progress.labelled_pairs, progress.labels, progress.annotators) == (1, 1, 1)
    assert (progress.disagreements, progress.annotator_labels) == (0, 0)
    # Nothing was deleted.
    assert store._db.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 3


def test_after_withdrawing_the_annotator_answers_again_under_a_new_key(store: LabelStore) -> None:
    [first] = store.submit([label("k1", similar=True)])
    assert first.first_for_pair
    withdraw(store, "k1")
    [again] = store.submit([label("k2", similar=False)])
    assert again.outcome is SubmitOutcome.ACCEPTED
    assert not again.first_for_pair  # the pair had its first label with k1: counted once
    assert again.label.sequence > first.label.sequence
    # The withdrawn key is spent: the same answer again, or another, is refused, not a DUPLICATE.
    for similar in (True, False):
        with pytest.raises(AlreadyExistsError, match="'k1' names an answer that was withdrawn"):
            store.submit([label("k1", similar=similar)])
    with pytest.raises(AlreadyExistsError, match=r"already answered pair 0 .*\(key 'k2'\)"):
        store.submit([label("k3")])
    [resolved] = store.resolved_labels(1)
    assert (resolved.similar, resolved.votes_similar, resolved.votes_dissimilar) == (False, 0, 1)
    assert store.progress(1, annotator_id="ann1").annotator_labels == 1
    [retry] = store.submit([label("k2", similar=False)])  # the new answer's retry is safe
    assert retry.outcome is SubmitOutcome.DUPLICATE


def test_withdrawing_twice_changes_nothing_also_after_the_round_closed(
    ticking: LabelStore,
) -> None:
    ticking.submit([label("k1")])  # created at 2000
    assert withdraw(ticking, "k1") == (True, 3000)
    assert withdraw(ticking, "k1") == (False, 3000)  # the first withdrawal's time, unchanged
    ticking.close_round(1)
    assert withdraw(ticking, "k1") == (False, 3000)
    [kept] = ticking.labels(1, include_withdrawn=True)
    assert (kept.created_at_ms, kept.withdrawn_at_ms) == (2000, 3000)


def test_withdraw_refusals_change_nothing(store: LabelStore) -> None:
    store.open_round(2, [AB])
    store.submit([label("k1", annotator="ann1"), label("k2", annotator="ann1", round_number=2)])
    store.close_round(2)
    with pytest.raises(ValueError, match="round must be >= 1"):
        withdraw(store, "k1", round_number=0)
    with pytest.raises(ValueError, match="idempotency_key is empty"):
        withdraw(store, "")
    with pytest.raises(ValueError, match="at most 200"):
        withdraw(store, "k" * 201)
    with pytest.raises(ValueError, match="annotator_id is empty"):
        withdraw(store, "k1", annotator="")
    with pytest.raises(NotFoundError, match="round 9 does not exist"):
        withdraw(store, "k1", round_number=9)
    with pytest.raises(NotFoundError, match="'k2' in round 1"):
        withdraw(store, "k2")  # the key is of round 2
    # Another annotator's key reads exactly like a key nobody used: nothing is revealed.
    with pytest.raises(NotFoundError) as theirs:
        withdraw(store, "k1", annotator="ann2")
    with pytest.raises(NotFoundError) as nobodys:
        withdraw(store, "k9", annotator="ann2")
    assert (
        str(theirs.value) == "annotator 'ann2' has no answer with idempotency key 'k1' in round 1"
    )
    assert str(nobodys.value) == str(theirs.value).replace("'k1'", "'k9'")
    with pytest.raises(FailedPreconditionError, match="round 2 is closed"):
        withdraw(store, "k2", round_number=2)
    assert [lab.withdrawn_at_ms for lab in store.labels(1, include_withdrawn=True)] == [None]
    assert [lab.withdrawn_at_ms for lab in store.labels(2, include_withdrawn=True)] == [None]


# The schema of the first label store (version 0), exactly as main's store.py created it.
V0_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    opened_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS pairs (
    round INTEGER NOT NULL REFERENCES rounds (round),
    pair_id INTEGER NOT NULL,
    image_a TEXT NOT NULL,
    image_b TEXT NOT NULL,
    PRIMARY KEY (round, pair_id),
    UNIQUE (round, image_a, image_b),
    CHECK (image_a < image_b)
);
CREATE TABLE IF NOT EXISTS labels (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL,
    pair_id INTEGER NOT NULL,
    similar INTEGER NOT NULL CHECK (similar IN (0, 1)),
    annotator_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    FOREIGN KEY (round, pair_id) REFERENCES pairs (round, pair_id),
    UNIQUE (round, pair_id, annotator_id)
);
"""


def _version_0_database(path: Path) -> None:
    """A labels.db as the first store left it: round 1 open with pairs (a, b) and (c, d), three
    labels, round 2 closed with one; the AUTOINCREMENT counter at 7 (rows 5 to 7 were deleted
    by hand: the counter may be ahead of the rows, and sequences must never be reused)."""
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(V0_SCHEMA)
    db.executescript(
        """
        BEGIN;
        INSERT INTO rounds VALUES (1, 'open', 100, NULL), (2, 'closed', 200, 300);
        INSERT INTO pairs VALUES (1, 0, 'a', 'b'), (1, 1, 'c', 'd'), (2, 0, 'a', 'c');
        INSERT INTO labels (round, pair_id, similar, annotator_id, idempotency_key, created_at_ms)
        VALUES (1, 0, 1, 'ann1', 'k1', 110), (1, 0, 0, 'ann2', 'k2', 120),
               (1, 1, 1, 'ann1', 'k3', 130), (2, 0, 0, 'ann1', 'k4', 210);
        UPDATE sqlite_sequence SET seq = 7 WHERE name = 'labels';
        COMMIT;
        """
    )
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()


def test_a_database_of_the_first_schema_is_upgraded_on_open_without_losing_labels(
    tmp_path: Path,
) -> None:
    path = tmp_path / "labels.db"
    _version_0_database(path)
    store = LabelStore(path, clock_ms=lambda: 1000)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store._db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert [
        (
            lab.sequence,
            lab.pair.pair_id,
            lab.similar,
            lab.annotator_id,
            lab.idempotency_key,
            lab.created_at_ms,
            lab.withdrawn_at_ms,
        )
        for lab in store.labels(1)
    ] == [
        (1, 0, True, "ann1", "k1", 110, None),
        (2, 0, False, "ann2", "k2", 120, None),
        (3, 1, True, "ann1", "k3", 130, None),
    ]
    assert [lab.idempotency_key for lab in store.labels(2)] == ["k4"]
    # The intake strings every earlier version stored ('open', 'closed') still read.
    assert (store.progress(1).intake, store.progress(2).intake) == (Intake.OPEN, Intake.CLOSED)
    resolved = {
        r.pair.pair_id: (r.similar, r.votes_similar, r.votes_dissimilar)
        for r in store.resolved_labels(1)
    }
    assert resolved == {0: (True, 1, 1), 1: (True, 1, 0)}  # tie on pair 0: k1 is the earliest

    # The old rules hold on the upgraded file, and withdrawals work.
    with pytest.raises(AlreadyExistsError, match="already answered pair 0"):
        store.submit([label("k5", annotator="ann2")])
    [duplicate] = store.submit([label("k1")])
    assert duplicate.outcome is SubmitOutcome.DUPLICATE
    assert withdraw(store, "k1") == (True, 1000)
    [again] = store.submit([label("k6", similar=False)])
    assert again.label.sequence == 8  # after the kept counter (7), not after the last row (4)
    assert not again.first_for_pair
    # One answer that counts per annotator and pair is also the database's rule.
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store._db.execute(
            "INSERT INTO labels (round, pair_id, similar, annotator_id, idempotency_key, "
            "created_at_ms) VALUES (1, 0, 1, 'ann1', 'k7', 1)"
        )
    store.close()

    reopened = LabelStore(path)  # already current: opening again changes nothing
    assert [lab.idempotency_key for lab in reopened.labels(1, include_withdrawn=True)] == [
        "k1",
        "k2",
        "k3",
        "k6",
    ]
    assert reopened.progress(1, annotator_id="ann1").annotator_labels == 2


def test_a_database_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.db"
    LabelStore(path).close()
    db = sqlite3.connect(str(path))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ValueError, match="newer than this service"):
        LabelStore(path)
