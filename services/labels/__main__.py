"""``python -m services.labels``: the label ingestion service (settings: docs/architecture.md).

A damaged label store is not served: the process exits non-zero with one line saying how to
restore it (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.common.settings import SettingsParser, common_settings
from services.labels.backup import LabelBackup
from services.labels.metrics import COLLECTORS
from services.labels.schema import DamagedStoreError
from services.labels.server import create_server
from services.labels.store import LabelStore

DEFAULT_LABEL_DB = "state/labels.db"
DEFAULT_BACKUP_KEEP = 7


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def open_store(path: str) -> LabelStore:
    """The label store at ``path``; SystemExit with one line when the file is damaged or
    cannot be opened."""
    try:
        return LabelStore(path)
    except DamagedStoreError as exc:
        raise SystemExit(
            f"label store {path} is damaged ({exc}): restore it from a backup (see docs/deploy.md)"
        ) from None
    except (sqlite3.Error, OSError) as exc:
        raise SystemExit(
            f"label store {path} cannot be opened ({exc}); is another label service using it, "
            "and may this one write there?"
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["labels"]
    parser = SettingsParser(spec)
    parser.add("--label-db", "ANNEAL_LABEL_DB", DEFAULT_LABEL_DB, "SQLite file of the label store")
    parser.add(
        "--backup-dir",
        "ANNEAL_LABELS_BACKUP_DIR",
        "",
        "folder of BackupLabels' copies (default: label-backups next to the label store)",
    )
    parser.add(
        "--backup-keep",
        "ANNEAL_LABELS_BACKUP_KEEP",
        DEFAULT_BACKUP_KEEP,
        "backups kept (the newest)",
        _positive,
    )
    values = parser.parse(argv)
    settings = common_settings(values)
    store = open_store(values.label_db)
    folder = Path(values.backup_dir or Path(values.label_db).parent / "label-backups")
    backup = LabelBackup(store.path, folder, values.backup_keep)
    try:
        run_service(
            spec,
            settings,
            lambda address, security: create_server(
                address, store, security=security, backup=backup
            ),
            COLLECTORS,
        )
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
