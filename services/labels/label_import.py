"""Restoring exported labels into a label store, one round's batch in one transaction.

An import is not a new answer: each label keeps its annotator, its times and its withdrawal, and
goes into closed rounds too. It is idempotent by idempotency key, like SubmitLabels: a key stored
with the same answer changes nothing (or is withdrawn now, when its imported copy was withdrawn:
a withdrawal only moves forward); the same key with another answer refuses the whole batch.
A round that does not exist is opened with the exported pairs, taking answers or closed as exported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from services.common.errors import AlreadyExistsError, NotFoundError
from services.labels.records import (
    ImagePair,
    ImportReceipt,
    RoundInfo,
    RoundPair,
    StoredLabel,
    check_stored,
)
from services.labels.rows import (
    counting_answer_key,
    insert_label,
    insert_round,
    label_by_key,
    pair_by_images,
    round_pairs,
)


def check_batch(labels: Sequence[StoredLabel], round_number: int) -> None:
    """ValueError for a malformed batch: a bad label, one of another round, a key twice."""
    keys: dict[str, int] = {}
    for i, label in enumerate(labels):
        check_stored(i, label)
        if label.round != round_number:
            raise ValueError(f"label {i} is of round {label.round}, not {round_number}")
        if label.idempotency_key in keys:
            raise ValueError(
                f"label {i}: idempotency key {label.idempotency_key!r} is also used by "
                f"label {keys[label.idempotency_key]} of this call"
            )
        keys[label.idempotency_key] = i


def ensure_round(db: sqlite3.Connection, info: RoundInfo, pairs: Sequence[ImagePair]) -> bool:
    """Opens the round with ``pairs`` when it does not exist; whether it did so."""
    wanted = [RoundPair(i, pair) for i, pair in enumerate(pairs)]
    exists = db.execute("SELECT 1 FROM rounds WHERE round = ?", (info.round,)).fetchone()
    if exists:
        if wanted and round_pairs(db, info.round) != wanted:
            raise AlreadyExistsError(
                f"round {info.round} exists here with other pairs than the imported file's; "
                "import into a store without this round, or restore a backup"
            )
        return False
    if not wanted:
        raise NotFoundError(
            f"round {info.round} does not exist here and the import sent no pairs for it"
        )
    insert_round(db, info.round, wanted, info.intake, info.opened_at_ms, info.closed_at_ms)
    return True


def _import_one(db: sqlite3.Connection, position: int, label: StoredLabel) -> str:
    """Stores one label; ``imported``, ``unchanged`` or ``withdrawn`` (what happened)."""
    where = f"label {position} (key {label.idempotency_key!r})"
    pair_id = pair_by_images(db, label.round, label.pair.pair)
    if pair_id is None:
        raise NotFoundError(
            f"{where}: pair ({label.pair.pair.image_a}, {label.pair.pair.image_b}) is not in "
            f"round {label.round} here"
        )
    stored = label_by_key(db, label.idempotency_key)
    if stored is not None:
        mine = (label.round, label.pair.pair, label.similar, label.annotator_id)
        theirs = (stored.round, stored.pair.pair, stored.similar, stored.annotator_id)
        if mine != theirs:
            answer = "similar" if stored.similar else "dissimilar"
            raise AlreadyExistsError(
                f"{where}: the key is already stored with a different answer (round "
                f"{stored.round}, {stored.pair.pair.image_a} vs {stored.pair.pair.image_b}, "
                f"{answer}, by {stored.annotator_id!r}); nothing of this batch was imported"
            )
        if label.withdrawn and not stored.withdrawn:
            db.execute(
                "UPDATE labels SET withdrawn_at_ms = ? WHERE sequence = ?",
                (label.withdrawn_at_ms, stored.sequence),
            )
            return "withdrawn"
        return "unchanged"
    if not label.withdrawn:
        answered = counting_answer_key(db, label.round, pair_id, label.annotator_id)
        if answered is not None:
            raise AlreadyExistsError(
                f"{where}: annotator {label.annotator_id!r} already has an answer for this pair "
                f"here under key {answered!r}; nothing of this batch was imported"
            )
    insert_label(
        db,
        label.round,
        pair_id,
        label.similar,
        label.annotator_id,
        label.idempotency_key,
        label.created_at_ms,
        label.withdrawn_at_ms,
    )
    return "imported"


def import_batch(
    db: sqlite3.Connection,
    info: RoundInfo,
    pairs: Sequence[ImagePair],
    labels: Sequence[StoredLabel],
) -> ImportReceipt:
    """Opens the round if needed and stores the labels (inside the caller's transaction)."""
    opened = ensure_round(db, info, pairs)
    outcomes = [_import_one(db, i, label) for i, label in enumerate(labels)]
    return ImportReceipt(
        round_opened=opened,
        imported=outcomes.count("imported"),
        unchanged=outcomes.count("unchanged"),
        withdrawn=outcomes.count("withdrawn"),
    )
