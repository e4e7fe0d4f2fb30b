"""Online backup of the label store: SQLite's backup API, verified, written where it lies.

The copy is read through a connection of its own, inside one read transaction, so it is one
consistent snapshot of the store: every label acknowledged before the backup began is in it,
nothing half-written is. In WAL mode that reader blocks no writer (labels keep being acknowledged
while the copy is made; they go to the next backup). The copy is written as
``<folder>/labels-<UTC time>.sqlite.partial``, flushed to disk, checked (``integrity_check`` and
the label count of the snapshot), and only then renamed to ``labels-<UTC time>.sqlite``; the
oldest backups beyond ``keep`` are deleted. The folder is the service's setting: no caller ever
chooses a path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.common.errors import FailedPreconditionError, UnavailableError
from services.labels.schema import DamagedStoreError, check_integrity

PREFIX = "labels-"
SUFFIX = ".sqlite"


@dataclass(frozen=True)
class BackupResult:
    """A verified backup: its path, the labels in it, its size and how long it took."""

    path: Path
    labels: int
    bytes: int
    kept: int
    seconds: float


def _now() -> datetime:
    return datetime.now(UTC)


def backup_name(moment: datetime) -> str:
    """``labels-20261202T001500.123Z.sqlite``: sorts by time, milliseconds keep names apart."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"{PREFIX}{stamp}Z{SUFFIX}"


def backups(folder: Path) -> list[Path]:
    """The finished backups in ``folder``, oldest first."""
    return sorted(p for p in folder.glob(f"{PREFIX}*Z{SUFFIX}") if p.is_file())


class LabelBackup:
    """Backs up the label store at ``store_path`` into ``folder``, keeping the newest ``keep``."""

    def __init__(
        self,
        store_path: Path,
        folder: Path,
        keep: int = 7,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep at least 1 backup, got {keep}")
        self._store_path = store_path
        self._folder = folder
        self._keep = keep
        self._clock = clock
        self._running = threading.Lock()

    @property
    def folder(self) -> Path:
        return self._folder

    def run(self) -> BackupResult:
        """Takes one verified backup; FailedPreconditionError while another one runs."""
        if not self._running.acquire(blocking=False):
            raise FailedPreconditionError("a backup of the label store is already running; wait")
        try:
            started = time.monotonic()
            final = self._folder / backup_name(self._clock())
            partial = final.with_name(final.name + ".partial")
            try:
                self._folder.mkdir(parents=True, exist_ok=True)
                labels = self._copy(partial)
                self._verify(partial, labels)
                os.replace(partial, final)
                _sync_folder(self._folder)
            except (OSError, sqlite3.Error, DamagedStoreError) as exc:
                partial.unlink(missing_ok=True)
                raise UnavailableError(f"the label backup failed ({exc}); retry") from exc
            kept = self._prune()
            return BackupResult(
                final, labels, final.stat().st_size, kept, time.monotonic() - started
            )
        finally:
            self._running.release()

    def _copy(self, target: Path) -> int:
        """Copies one snapshot of the store to ``target``; the labels in that snapshot."""
        source = sqlite3.connect(str(self._store_path), isolation_level=None, timeout=10.0)
        try:
            source.execute("PRAGMA query_only=ON")
            source.execute("BEGIN")  # one read transaction: the count and the copy agree
            (labels,) = source.execute("SELECT COUNT(*) FROM labels").fetchone()
            copy = sqlite3.connect(str(target), isolation_level=None)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                copy.close()
            source.execute("COMMIT")
        finally:
            source.close()
        with target.open("rb+") as handle:
            os.fsync(handle.fileno())
        return int(labels)

    @staticmethod
    def _verify(path: Path, labels: int) -> None:
        read_only = f"{path.resolve().as_uri()}?mode=ro"
        copy = sqlite3.connect(read_only, uri=True, isolation_level=None)
        try:
            check_integrity(copy, full=True)
            (found,) = copy.execute("SELECT COUNT(*) FROM labels").fetchone()
        finally:
            copy.close()
        if found != labels:
            raise DamagedStoreError(f"the copy holds {found} labels, the store had {labels}")

    def _prune(self) -> int:
        """Deletes the oldest backups beyond ``keep``; how many are left."""
        finished = backups(self._folder)
        for old in finished[: -self._keep]:
            old.unlink(missing_ok=True)
        return min(len(finished), self._keep)


def _sync_folder(folder: Path) -> None:
    """Makes the rename durable (the folder's entry), where the platform allows it."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
