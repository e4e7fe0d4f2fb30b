"""Submitting one answer: the rules of LabelStore.submit, checked in order (store.py says which).

A submission is a new answer, given now, by the caller: unlike an import (label_import.py) it
needs an open round and takes the store's clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from services.common.errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from services.labels.records import (
    ImagePair,
    Intake,
    LabelSubmission,
    RoundPair,
    StoredLabel,
    SubmitOutcome,
    SubmitReceipt,
)
from services.labels.rows import (
    counting_answer_key,
    insert_label,
    label_by_key,
    pair_by_images,
    round_intake,
)


def _resolve_pair(db: sqlite3.Connection, label: LabelSubmission, where: str) -> RoundPair:
    if label.images is not None:
        pair_id = pair_by_images(db, label.round, label.images)
        if pair_id is None:
            raise NotFoundError(
                f"{where}: pair ({label.images.image_a}, {label.images.image_b}) is not in "
                f"round {label.round}; ListPairs lists its pairs"
            )
        return RoundPair(pair_id, label.images)
    row = db.execute(
        "SELECT image_a, image_b FROM pairs WHERE round = ? AND pair_id = ?",
        (label.round, label.pair_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(
            f"{where}: round {label.round} has no pair {label.pair_id}; ListPairs lists its pairs"
        )
    return RoundPair(int(label.pair_id or 0), ImagePair(row[0], row[1]))


def submit_one(
    db: sqlite3.Connection, label: LabelSubmission, where: str, clock_ms: Callable[[], int]
) -> SubmitReceipt:
    """Stores one submitted label (inside the caller's transaction); what happened to it.

    ``where`` names the label in messages (``label 3``).
    """
    try:
        intake = round_intake(db, label.round)
    except NotFoundError as exc:
        raise NotFoundError(f"{where}: {exc}") from exc
    pair = _resolve_pair(db, label, where)
    stored = label_by_key(db, label.idempotency_key)
    if stored is not None:
        if stored.withdrawn:
            raise AlreadyExistsError(
                f"{where}: idempotency key {label.idempotency_key!r} names an answer that was "
                "withdrawn; use a new key for a new answer"
            )
        same = (stored.round, stored.pair, stored.similar, stored.annotator_id) == (
            label.round,
            pair,
            label.similar,
            label.annotator_id,
        )
        if not same:
            raise AlreadyExistsError(
                f"{where}: idempotency key {label.idempotency_key!r} was already used for "
                "a different label; use a new key for a new answer"
            )
        return SubmitReceipt(SubmitOutcome.DUPLICATE, stored, first_for_pair=False)
    if intake is Intake.CLOSED:
        raise FailedPreconditionError(
            f"{where}: round {label.round} is closed and takes no more labels"
        )
    answered = counting_answer_key(db, label.round, pair.pair_id, label.annotator_id)
    if answered is not None:
        raise AlreadyExistsError(
            f"{where}: annotator {label.annotator_id!r} already answered pair {pair.pair_id} "
            f"of round {label.round} (key {answered!r}); each annotator answers a pair once"
        )
    first = (  # withdrawn answers included: LABELLED_PAIRS counts a pair once
        db.execute(
            "SELECT 1 FROM labels WHERE round = ? AND pair_id = ? LIMIT 1",
            (label.round, pair.pair_id),
        ).fetchone()
        is None
    )
    created = clock_ms()
    sequence = insert_label(
        db,
        label.round,
        pair.pair_id,
        label.similar,
        label.annotator_id,
        label.idempotency_key,
        created,
    )
    stored = StoredLabel(
        sequence=sequence,
        round=label.round,
        pair=pair,
        similar=label.similar,
        annotator_id=label.annotator_id,
        idempotency_key=label.idempotency_key,
        created_at_ms=created,
    )
    return SubmitReceipt(SubmitOutcome.ACCEPTED, stored, first_for_pair=first)
