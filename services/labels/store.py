"""The label store: rounds, their pairs and every answer, in SQLite (WAL, synchronous=FULL).

A label is acknowledged only after its transaction has committed, so an acknowledged label
survives a crash of the process. A batch of labels is stored all or none; a bad label refuses the
whole batch and changes nothing. Rules, checked in this order for each label (submission.py):

- the round must exist (NotFoundError) and the pair must be in it (NotFoundError);
- an idempotency key already stored with the same label is a DUPLICATE (nothing changes, even in
  a closed round); the same key with a different label is refused (AlreadyExistsError);
- a key whose answer was withdrawn is refused (AlreadyExistsError): a new answer takes a new key;
- a closed round takes no new labels (FailedPreconditionError);
- an annotator answers a pair once; another key for the same pair and annotator is refused
  (AlreadyExistsError) unless that annotator withdrew the earlier answer. Different annotators
  may disagree; all answers are kept and resolved by the injected :class:`ResolutionRule`
  (majority vote by default).

An annotator withdraws its own answer (:meth:`LabelStore.withdraw`) while the round is open: the
row stays, with ``withdrawn_at_ms`` set, and counts nowhere any more (resolution, progress,
unlabelled pairs, the label list unless asked for).

Opening the file checks it first (``PRAGMA quick_check`` and its tables: a damaged file is
refused with :class:`DamagedStoreError`), then creates or upgrades the schema (schema.py).
Exported labels come back through :meth:`LabelStore.import_labels` (label_import.py).

One connection serves all threads, behind a lock: label writes are small and SQLite has a single
writer anyway.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from anneal.al.resolution import MajorityVote, ResolutionRule, Vote
from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
)
from services.labels.label_import import check_batch, import_batch
from services.labels.records import (
    ImagePair,
    ImportReceipt,
    Intake,
    LabelSubmission,
    ResolvedLabel,
    RoundInfo,
    RoundPair,
    RoundProgress,
    StoredLabel,
    SubmitReceipt,
    Withdrawal,
    check_round,
)
from services.labels.rows import (
    COUNTS,
    LABEL_COLUMNS,
    LABEL_JOIN,
    insert_round,
    round_intake,
    round_pairs,
    stored_label,
)
from services.labels.schema import (
    SCHEMA_VERSION,
    DamagedStoreError,
    check_integrity,
    is_damage,
    migrate,
    schema_version,
)
from services.labels.submission import submit_one

MAX_PAIRS_PER_ROUND = 100_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LabelStore:
    """Durable rounds, pairs and labels in one SQLite file at ``path``.

    ``busy_timeout_s``: how long a write waits for another connection's lock on the file
    before it fails (UNAVAILABLE, nothing stored).
    """

    def __init__(
        self,
        path: str | Path,
        rule: ResolutionRule | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        busy_timeout_s: float = 10.0,
    ) -> None:
        self._rule = rule or MajorityVote()
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
        )
        try:
            check_integrity(self._db)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if is_damage(exc):
                raise DamagedStoreError(str(exc)) from exc
            raise
        except DamagedStoreError:
            self._db.close()
            raise
        if mode != "wal":
            self._db.close()
            raise ValueError(
                f"{path}: SQLite could not use WAL mode (got {mode!r}); use a file path"
            )
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        if schema_version(self._db) != SCHEMA_VERSION:
            self._upgrade_schema()

    def _upgrade_schema(self) -> None:
        """Creates or upgrades the schema in one transaction (taken before the version is read
        again, so two processes opening one old file upgrade it once)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            migrate(self._db)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One serialised transaction; committed (durably) on success, rolled back otherwise."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise UnavailableError(
                        f"the label store could not commit ({exc}); retry with the same keys"
                    ) from exc
                raise

    def open_round(
        self, round_number: int, pairs: Sequence[ImagePair]
    ) -> tuple[list[RoundPair], bool]:
        """Registers a round with its pairs (ids = positions); returns them and whether it is new.

        Opening an existing round with the same pairs again changes nothing.
        """
        check_round(round_number)
        if not 1 <= len(pairs) <= MAX_PAIRS_PER_ROUND:
            raise ValueError(f"a round needs 1 to {MAX_PAIRS_PER_ROUND} pairs, got {len(pairs)}")
        seen: set[ImagePair] = set()
        for pair in pairs:
            if pair in seen:
                raise ValueError(f"pair ({pair.image_a}, {pair.image_b}) is listed more than once")
            seen.add(pair)
        wanted = [RoundPair(i, pair) for i, pair in enumerate(pairs)]
        with self._transaction() as db:
            exists = db.execute("SELECT 1 FROM rounds WHERE round = ?", (round_number,)).fetchone()
            if exists:
                if round_pairs(db, round_number) != wanted:
                    raise AlreadyExistsError(
                        f"round {round_number} is already open with other pairs; "
                        "use the next round number"
                    )
                return wanted, False
            insert_round(db, round_number, wanted, Intake.OPEN, self._clock_ms(), None)
        return wanted, True

    def close_round(self, round_number: int) -> bool:
        """Stops the round taking labels; False when it was already closed."""
        with self._transaction() as db:
            if round_intake(db, round_number) is Intake.CLOSED:
                return False
            db.execute(
                "UPDATE rounds SET state = 'closed', closed_at_ms = ? WHERE round = ?",
                (self._clock_ms(), round_number),
            )
        return True

    def submit(self, labels: Sequence[LabelSubmission]) -> list[SubmitReceipt]:
        """Stores the labels, all or none; returns after the commit, one receipt per label."""
        keys: dict[str, int] = {}
        for i, label in enumerate(labels):
            try:
                label.validate()
            except ValueError as exc:
                raise ValueError(f"label {i}: {exc}") from exc
            if label.idempotency_key in keys:
                raise ValueError(
                    f"label {i}: idempotency key {label.idempotency_key!r} is also used by "
                    f"label {keys[label.idempotency_key]} of this call"
                )
            keys[label.idempotency_key] = i
        with self._transaction() as db:
            return [
                submit_one(db, label, f"label {i}", self._clock_ms)
                for i, label in enumerate(labels)
            ]

    def withdraw(self, withdrawal: Withdrawal) -> tuple[StoredLabel, bool]:
        """Withdraws the annotator's answer stored under the key; returns after the commit.

        Returns the label, withdrawn, and whether this call withdrew it (False: it already was,
        nothing changed, also in a closed round). NotFoundError when the annotator has no answer
        with that key in the round (another annotator's key reads the same); a closed round:
        FailedPreconditionError.
        """
        withdrawal.validate()
        round_number, key, annotator = (
            withdrawal.round,
            withdrawal.idempotency_key,
            withdrawal.annotator_id,
        )
        with self._transaction() as db:
            intake = round_intake(db, round_number)
            row = db.execute(
                f"SELECT {LABEL_COLUMNS} FROM {LABEL_JOIN} "
                "WHERE l.idempotency_key = ? AND l.round = ? AND l.annotator_id = ?",
                (key, round_number, annotator),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"annotator {annotator!r} has no answer with idempotency key {key!r} in "
                    f"round {round_number}"
                )
            stored = stored_label(row)
            if stored.withdrawn:
                return stored, False
            if intake is Intake.CLOSED:
                raise FailedPreconditionError(
                    f"round {round_number} is closed; its answers can no longer be withdrawn"
                )
            now = self._clock_ms()
            db.execute(
                "UPDATE labels SET withdrawn_at_ms = ? WHERE sequence = ?", (now, stored.sequence)
            )
        return replace(stored, withdrawn_at_ms=now), True

    def labels(
        self,
        round_number: int,
        after_sequence: int = 0,
        limit: int = 1000,
        include_withdrawn: bool = False,
    ) -> list[StoredLabel]:
        """The round's labels in store order, those after ``after_sequence``, at most ``limit``.

        Withdrawn labels only with ``include_withdrawn``.
        """
        counts = "" if include_withdrawn else f" AND {COUNTS}"
        with self._lock:
            round_intake(self._db, round_number)
            rows = self._db.execute(
                f"SELECT {LABEL_COLUMNS} FROM {LABEL_JOIN} WHERE l.round = ? AND l.sequence > ?"
                f"{counts} ORDER BY l.sequence LIMIT ?",
                (round_number, after_sequence, limit),
            ).fetchall()
        return [stored_label(row) for row in rows]

    def pairs(self, round_number: int, only_unlabelled: bool = False) -> list[RoundPair]:
        """The round's pairs by id; with ``only_unlabelled``, those without a (counting) label."""
        with self._lock:
            round_intake(self._db, round_number)
            pairs = round_pairs(self._db, round_number)
            if not only_unlabelled:
                return pairs
            labelled = {
                row[0]
                for row in self._db.execute(
                    f"SELECT DISTINCT pair_id FROM labels l WHERE round = ? AND {COUNTS}",
                    (round_number,),
                )
            }
        return [pair for pair in pairs if pair.pair_id not in labelled]

    def _counting(self, round_number: int) -> tuple[Intake, int, list[StoredLabel]]:
        """Whether the round takes answers, its number of pairs and the labels that count
        (store order), together."""
        with self._lock:
            intake = round_intake(self._db, round_number)
            (pairs,) = self._db.execute(
                "SELECT COUNT(*) FROM pairs WHERE round = ?", (round_number,)
            ).fetchone()
            rows = self._db.execute(
                f"SELECT {LABEL_COLUMNS} FROM {LABEL_JOIN} WHERE l.round = ? AND {COUNTS} "
                "ORDER BY l.sequence",
                (round_number,),
            ).fetchall()
        return intake, pairs, [stored_label(row) for row in rows]

    @staticmethod
    def _votes(labels: Sequence[StoredLabel]) -> dict[tuple[int, RoundPair], list[Vote]]:
        """The counting votes of each (round, pair), in store order."""
        votes: dict[tuple[int, RoundPair], list[Vote]] = {}
        for label in labels:
            votes.setdefault((label.round, label.pair), []).append(
                Vote(label.similar, label.sequence)
            )
        return votes

    def resolved_labels(self, round_number: int) -> list[ResolvedLabel]:
        """One answer per labelled pair of the round (by pair id), resolved by the rule.

        Withdrawn answers are no votes; a pair whose answers were all withdrawn is not listed.
        """
        _intake, _pairs, labels = self._counting(round_number)
        return self._resolved(labels)

    def resolved_labels_up_to(self, up_to_round: int) -> list[ResolvedLabel]:
        """:meth:`resolved_labels` of every stored round 1..``up_to_round``, by round then pair
        id, read with one query (training and selection read all earlier rounds each round)."""
        check_round(up_to_round)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {LABEL_COLUMNS} FROM {LABEL_JOIN} WHERE l.round <= ? AND {COUNTS} "
                "ORDER BY l.sequence",
                (up_to_round,),
            ).fetchall()
        return self._resolved([stored_label(row) for row in rows])

    def _resolved(self, labels: Sequence[StoredLabel]) -> list[ResolvedLabel]:
        """The resolution of each (round, pair) of ``labels`` (counting labels, store order)."""
        votes = self._votes(labels)
        resolved = []
        for round_number, pair in sorted(votes, key=lambda key: (key[0], key[1].pair_id)):
            ballot = votes[(round_number, pair)]
            similar = sum(vote.similar for vote in ballot)
            resolved.append(
                ResolvedLabel(
                    pair=pair,
                    similar=self._rule.resolve(ballot),
                    votes_similar=similar,
                    votes_dissimilar=len(ballot) - similar,
                    round=round_number,
                )
            )
        return resolved

    def progress(self, round_number: int, annotator_id: str | None = None) -> RoundProgress:
        """Counts of pairs, labels, annotators and disagreements for the round, withdrawn labels
        left out; ``annotator_labels``: the labels of ``annotator_id`` (0 when None)."""
        intake, pairs, labels = self._counting(round_number)
        votes = self._votes(labels)
        return RoundProgress(
            round=round_number,
            intake=intake,
            pairs=pairs,
            labelled_pairs=len(votes),
            labels=len(labels),
            annotators=len({label.annotator_id for label in labels}),
            disagreements=sum(1 for v in votes.values() if len({vote.similar for vote in v}) > 1),
            annotator_labels=sum(1 for label in labels if label.annotator_id == annotator_id),
        )

    def rounds(self) -> list[RoundInfo]:
        """Every round by number: whether it takes answers, its times and number of pairs."""
        with self._lock:
            rows = self._db.execute(
                "SELECT r.round, r.state, r.opened_at_ms, r.closed_at_ms, "
                "(SELECT COUNT(*) FROM pairs p WHERE p.round = r.round) "
                "FROM rounds r ORDER BY r.round"
            ).fetchall()
        return [
            RoundInfo(number, Intake(state), opened, closed, pairs)
            for number, state, opened, closed, pairs in rows
        ]

    def import_labels(
        self, info: RoundInfo, pairs: Sequence[ImagePair], labels: Sequence[StoredLabel]
    ) -> ImportReceipt:
        """Restores exported labels of one round, all or none (label_import.py says how)."""
        check_round(info.round)
        if len(pairs) > MAX_PAIRS_PER_ROUND:
            raise ValueError(f"a round has at most {MAX_PAIRS_PER_ROUND} pairs, got {len(pairs)}")
        check_batch(labels, info.round)
        with self._transaction() as db:
            return import_batch(db, info, pairs, labels)
