"""The label store on its own: rounds, pairs, idempotency, refusals and the disagreement rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
)
from services.labels.records import (
    ImagePair,
    LabelSubmission,
    RoundState,
    SubmitOutcome,
)
from services.labels.resolution import MajorityVote, Vote
from services.labels.store import LabelStore

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
    assert store.progress(1).state is RoundState.CLOSED
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
