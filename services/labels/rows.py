"""Reading the label store's rows: the shared SELECTs and their conversion to records.

Every function takes the connection of the caller's transaction (or read under the store lock).
"""

from __future__ import annotations

import sqlite3

from services.common.errors import NotFoundError
from services.labels.records import ImagePair, Intake, RoundPair, StoredLabel

LABEL_COLUMNS = (
    "l.sequence, l.round, l.pair_id, p.image_a, p.image_b, l.similar, l.annotator_id, "
    "l.idempotency_key, l.created_at_ms, l.withdrawn_at_ms"
)
LABEL_JOIN = "labels l JOIN pairs p ON p.round = l.round AND p.pair_id = l.pair_id"
COUNTS = "l.withdrawn_at_ms IS NULL"
"""The condition of the answers that count (not withdrawn)."""


def stored_label(row: sqlite3.Row) -> StoredLabel:
    """A row of ``SELECT {LABEL_COLUMNS} FROM {LABEL_JOIN}`` as a record."""
    sequence, round_number, pair_id, image_a, image_b, similar, annotator, key, created, gone = row
    return StoredLabel(
        sequence=sequence,
        round=round_number,
        pair=RoundPair(pair_id, ImagePair(image_a, image_b)),
        similar=bool(similar),
        annotator_id=annotator,
        idempotency_key=key,
        created_at_ms=created,
        withdrawn_at_ms=gone,
    )


def label_by_key(db: sqlite3.Connection, key: str) -> StoredLabel | None:
    row = db.execute(
        f"SELECT {LABEL_COLUMNS} FROM {LABEL_JOIN} WHERE l.idempotency_key = ?", (key,)
    ).fetchone()
    return None if row is None else stored_label(row)


def counting_answer_key(
    db: sqlite3.Connection, round_number: int, pair_id: int, annotator: str
) -> str | None:
    """The key of the annotator's answer for the pair that counts (not withdrawn), if any."""
    row = db.execute(
        "SELECT idempotency_key FROM labels l "
        f"WHERE round = ? AND pair_id = ? AND annotator_id = ? AND {COUNTS}",
        (round_number, pair_id, annotator),
    ).fetchone()
    return None if row is None else str(row[0])


def round_intake(db: sqlite3.Connection, round_number: int) -> Intake:
    """Whether the round takes answers; NotFoundError when it does not exist."""
    row = db.execute("SELECT state FROM rounds WHERE round = ?", (round_number,)).fetchone()
    if row is None:
        raise NotFoundError(f"round {round_number} does not exist; open it first (OpenRound)")
    return Intake(row[0])


def round_pairs(db: sqlite3.Connection, round_number: int) -> list[RoundPair]:
    """The round's pairs by id."""
    rows = db.execute(
        "SELECT pair_id, image_a, image_b FROM pairs WHERE round = ? ORDER BY pair_id",
        (round_number,),
    )
    return [RoundPair(pair_id, ImagePair(a, b)) for pair_id, a, b in rows]


def pair_by_images(db: sqlite3.Connection, round_number: int, images: ImagePair) -> int | None:
    """The id of the round's pair of these two images, if it has one."""
    row = db.execute(
        "SELECT pair_id FROM pairs WHERE round = ? AND image_a = ? AND image_b = ?",
        (round_number, images.image_a, images.image_b),
    ).fetchone()
    return None if row is None else int(row[0])


def insert_round(
    db: sqlite3.Connection,
    round_number: int,
    pairs: list[RoundPair],
    intake: Intake,
    opened_at_ms: int,
    closed_at_ms: int | None,
) -> None:
    db.execute(
        "INSERT INTO rounds (round, state, opened_at_ms, closed_at_ms) VALUES (?, ?, ?, ?)",
        (round_number, intake.value, opened_at_ms, closed_at_ms),
    )
    db.executemany(
        "INSERT INTO pairs (round, pair_id, image_a, image_b) VALUES (?, ?, ?, ?)",
        [(round_number, p.pair_id, p.pair.image_a, p.pair.image_b) for p in pairs],
    )


def insert_label(
    db: sqlite3.Connection,
    round_number: int,
    pair_id: int,
    similar: bool,
    annotator: str,
    key: str,
    created_at_ms: int,
    withdrawn_at_ms: int | None = None,
) -> int:
    """Stores one answer; its sequence."""
    cursor = db.execute(
        "INSERT INTO labels (round, pair_id, similar, annotator_id, idempotency_key, "
        "created_at_ms, withdrawn_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (round_number, pair_id, int(similar), annotator, key, created_at_ms, withdrawn_at_ms),
    )
    return int(cursor.lastrowid or 0)
