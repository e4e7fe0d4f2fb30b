"""The bridge's own state on disk: the Label Studio project of each round, its tasks, the
cursor of what has been pushed to the label service, per annotation revision, and how far the
pulls of each project got.

One SQLite file (WAL, ``synchronous=FULL``), each change one transaction. The bridge writes a
row only after the label service acknowledged what the row says, so after a crash at any point
the next sync repeats at most the last step, which the label service's idempotency keys make
harmless (docs/labelstudio.md, "Nothing lost, nothing twice").
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.labelstudio.pull_cursor import PullCursor

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    round INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL UNIQUE,
    webhook_id INTEGER,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    pair_id INTEGER NOT NULL,
    links_expire_unix INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, pair_id)
);
CREATE TABLE IF NOT EXISTS answers (
    annotation_id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    pair_id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    revision INTEGER NOT NULL,
    stored_key TEXT,
    stored_answer INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    refused TEXT,
    pending_key TEXT
);
CREATE INDEX IF NOT EXISTS answers_by_project ON answers (project_id);
CREATE TABLE IF NOT EXISTS pull_cursors (
    project_id INTEGER PRIMARY KEY,
    changed_through TEXT,
    changed_seen_unix REAL NOT NULL,
    settled_through TEXT,
    full_pull_unix REAL NOT NULL
);
"""


@dataclass(frozen=True)
class ProjectRow:
    """The Label Studio project a round went out as."""

    round: int
    project_id: int
    webhook_id: int | None
    closed: bool


@dataclass(frozen=True)
class TaskRow:
    """A task of ours: which round and pair it asks about, and when its image links expire."""

    task_id: int
    project_id: int
    round: int
    pair_id: int
    links_expire_unix: int


@dataclass(frozen=True)
class AnswerRow:
    """What the label service holds for one annotation: the revision last handled, the key and
    answer stored for it (None: nothing stored, e.g. Unsure), deleted, or why it was refused."""

    annotation_id: int
    project_id: int
    round: int
    pair_id: int
    annotator: str
    revision: int
    stored_key: str | None
    stored_answer: bool | None
    deleted: bool
    refused: str | None
    pending_key: str | None = None


class BridgeStore:
    """The SQLite file; thread-safe (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- projects -------------------------------------------------------------------------------

    def project(self, round_number: int) -> ProjectRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT round, project_id, webhook_id, closed FROM projects WHERE round = ?",
                (round_number,),
            ).fetchone()
        return _project(row) if row else None

    def project_by_id(self, project_id: int) -> ProjectRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT round, project_id, webhook_id, closed FROM projects WHERE project_id = ?",
                (project_id,),
            ).fetchone()
        return _project(row) if row else None

    def projects(self) -> list[ProjectRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT round, project_id, webhook_id, closed FROM projects ORDER BY round"
            ).fetchall()
        return [_project(row) for row in rows]

    def save_project(self, row: ProjectRow) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO projects (round, project_id, webhook_id, closed) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (round) DO UPDATE SET project_id = excluded.project_id, "
                "webhook_id = excluded.webhook_id, closed = excluded.closed",
                (row.round, row.project_id, row.webhook_id, int(row.closed)),
            )

    def pull_cursor(self, project_id: int) -> PullCursor:
        """The project's cursor; an empty one before its first pull."""
        with self._lock:
            row = self._db.execute(
                "SELECT changed_through, changed_seen_unix, settled_through, full_pull_unix "
                "FROM pull_cursors WHERE project_id = ?",
                (project_id,),
            ).fetchone()
        if row is None:
            return PullCursor(project_id)
        return PullCursor(project_id, _time(row[0]), float(row[1]), _time(row[2]), float(row[3]))

    def save_pull_cursor(self, cursor: PullCursor) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO pull_cursors (project_id, changed_through, "
                "changed_seen_unix, settled_through, full_pull_unix) VALUES (?, ?, ?, ?, ?)",
                (
                    cursor.project_id,
                    _text(cursor.changed_through),
                    cursor.changed_seen_unix,
                    _text(cursor.settled_through),
                    cursor.full_pull_unix,
                ),
            )

    # -- tasks ----------------------------------------------------------------------------------

    def task(self, task_id: int) -> TaskRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT task_id, project_id, round, pair_id, links_expire_unix FROM tasks "
                "WHERE task_id = ?",
                (task_id,),
            ).fetchone()
        return TaskRow(*row) if row else None

    def tasks(self, project_id: int) -> list[TaskRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT task_id, project_id, round, pair_id, links_expire_unix FROM tasks "
                "WHERE project_id = ? ORDER BY pair_id",
                (project_id,),
            ).fetchall()
        return [TaskRow(*row) for row in rows]

    def save_tasks(self, rows: Iterable[TaskRow]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO tasks (task_id, project_id, round, pair_id, links_expire_unix) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
                "links_expire_unix = excluded.links_expire_unix",
                [(r.task_id, r.project_id, r.round, r.pair_id, r.links_expire_unix) for r in rows],
            )

    # -- answers --------------------------------------------------------------------------------

    def answer(self, annotation_id: int) -> AnswerRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE annotation_id = ?",
                (annotation_id,),
            ).fetchone()
        return _answer(row) if row else None

    def answers(self, project_id: int) -> list[AnswerRow]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE project_id = ? "
                "ORDER BY annotation_id",
                (project_id,),
            ).fetchall()
        return [_answer(row) for row in rows]

    def save_answers(self, rows: Iterable[AnswerRow]) -> None:
        """Records what the label service now holds for these annotations (all or none)."""
        with self._transaction() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO answers ({_ANSWER_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.annotation_id,
                        r.project_id,
                        r.round,
                        r.pair_id,
                        r.annotator,
                        r.revision,
                        r.stored_key,
                        None if r.stored_answer is None else int(r.stored_answer),
                        int(r.deleted),
                        r.refused,
                        r.pending_key,
                    )
                    for r in rows
                ],
            )


_ANSWER_COLUMNS = (
    "annotation_id, project_id, round, pair_id, annotator, revision, stored_key, "
    "stored_answer, deleted, refused, pending_key"
)


def _project(row: tuple[int, int, int | None, int]) -> ProjectRow:
    return ProjectRow(round=row[0], project_id=row[1], webhook_id=row[2], closed=bool(row[3]))


def _answer(row: tuple[object, ...]) -> AnswerRow:
    stored = row[7]
    return AnswerRow(
        annotation_id=int(row[0]),  # type: ignore[call-overload]
        project_id=int(row[1]),  # type: ignore[call-overload]
        round=int(row[2]),  # type: ignore[call-overload]
        pair_id=int(row[3]),  # type: ignore[call-overload]
        annotator=str(row[4]),
        revision=int(row[5]),  # type: ignore[call-overload]
        stored_key=None if row[6] is None else str(row[6]),
        stored_answer=None if stored is None else bool(stored),
        deleted=bool(row[8]),
        refused=None if row[9] is None else str(row[9]),
        pending_key=None if row[10] is None else str(row[10]),
    )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _text(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
