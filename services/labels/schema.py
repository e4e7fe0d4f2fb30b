"""The label store's SQLite schema: its tables, its version, the upgrade from older versions and
the check at start that the file is sound.

The schema's version is SQLite's ``user_version``; opening a file of an older version upgrades
it in one transaction (version 0, the first schema, had no withdrawals and a table constraint of
one answer per annotator and pair, which becomes a unique index over the answers that count).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of the schema below; 0 is the first one (no withdrawals)."""

TABLES = ("rounds", "pairs", "labels")

_TABLES = (
    """CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    opened_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER
)""",
    """CREATE TABLE IF NOT EXISTS pairs (
    round INTEGER NOT NULL REFERENCES rounds (round),
    pair_id INTEGER NOT NULL,
    image_a TEXT NOT NULL,
    image_b TEXT NOT NULL,
    PRIMARY KEY (round, pair_id),
    UNIQUE (round, image_a, image_b),
    CHECK (image_a < image_b)
)""",
)
# Every answer ever given; withdrawn ones keep their row with withdrawn_at_ms set. One answer
# that counts per annotator and pair: the partial unique index, not a table constraint, so an
# annotator who withdrew may answer the pair again.
_LABELS_TABLE = """CREATE TABLE {name} (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL,
    pair_id INTEGER NOT NULL,
    similar INTEGER NOT NULL CHECK (similar IN (0, 1)),
    annotator_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    withdrawn_at_ms INTEGER,
    FOREIGN KEY (round, pair_id) REFERENCES pairs (round, pair_id)
)"""
_LABEL_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS labels_one_answer_per_annotator "
    "ON labels (round, pair_id, annotator_id) WHERE withdrawn_at_ms IS NULL",
    "CREATE INDEX IF NOT EXISTS labels_by_pair ON labels (round, pair_id)",
)
_V0_LABEL_COLUMNS = (
    "sequence, round, pair_id, similar, annotator_id, idempotency_key, created_at_ms"
)


class DamagedStoreError(RuntimeError):
    """The label file is not a sound label store (corrupt pages, missing tables): restore it."""


DAMAGE_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite's error says the file is damaged (not locked, not unreadable)."""
    return getattr(exc, "sqlite_errorname", "") in DAMAGE_CODES


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> None:
    """Brings the file to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"the label database has schema version {version}, newer than this service's "
            f"{SCHEMA_VERSION}; run a newer version of the label service"
        )
    if version == SCHEMA_VERSION:
        return
    for statement in _TABLES:
        db.execute(statement)
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'labels'"
    ).fetchone()
    if exists:
        _upgrade_labels_from_v0(db)
    else:
        db.execute(_LABELS_TABLE.format(name="labels"))
    for statement in _LABEL_INDEXES:
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _upgrade_labels_from_v0(db: sqlite3.Connection) -> None:
    """Rebuilds the version 0 labels table (SQLite cannot drop its UNIQUE constraint in place).

    Every row is copied with its sequence, and the AUTOINCREMENT counter is kept, so sequences
    (and ListLabels page tokens) are never reused.
    """
    counter = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'labels'").fetchone()
    db.execute(_LABELS_TABLE.format(name="labels_v1"))
    db.execute(
        f"INSERT INTO labels_v1 ({_V0_LABEL_COLUMNS}) "
        f"SELECT {_V0_LABEL_COLUMNS} FROM labels ORDER BY sequence"
    )
    db.execute("DROP TABLE labels")
    db.execute("ALTER TABLE labels_v1 RENAME TO labels")
    db.execute("DELETE FROM sqlite_sequence WHERE name IN ('labels', 'labels_v1')")
    if counter is not None:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('labels', ?)", counter)


def check_integrity(db: sqlite3.Connection, full: bool = False) -> None:
    """DamagedStoreError, saying what is wrong, unless the file is a sound store of this schema.

    ``full``: ``PRAGMA integrity_check`` (reads every page and index, for a backup just written);
    else ``quick_check`` (every page, no index cross-check: fast enough for every start). Also
    refuses a file whose tables are missing (a newer schema version is refused by
    :func:`migrate`, with its own message: that file is sound, the service is old).
    """
    pragma = "integrity_check" if full else "quick_check"
    try:
        problems = [row[0] for row in db.execute(f"PRAGMA {pragma}(5)")]
        version = schema_version(db)
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise DamagedStoreError(str(exc)) from exc
        raise
    if problems != ["ok"]:
        found = " ".join("; ".join(problems).split())  # one line, however SQLite wraps it
        raise DamagedStoreError(f"{pragma}: {found[:300]}")
    if version == 0 and not tables:
        return  # a new, empty file: migrate() creates the schema
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise DamagedStoreError(f"schema version {version} but table {missing[0]!r} is missing")
