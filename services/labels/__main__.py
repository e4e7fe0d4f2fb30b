"""``python -m services.labels``: the label ingestion service (settings: docs/architecture.md).

A damaged label store is not served: the process exits non-zero with one line saying how to
restore it (docs/deploy.md).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.labels.backup import LabelBackup
from services.labels.metrics import COLLECTORS
from services.labels.schema import DamagedStoreError
from services.labels.server import create_server
from services.labels.settings import LabelSettings
from services.labels.store import LabelStore


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
    settings = LabelSettings.read(argv)
    store = open_store(settings.label_db)
    folder = Path(settings.backup_dir or Path(settings.label_db).parent / "label-backups")
    backup = LabelBackup(store.path, folder, settings.backup_keep)
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
