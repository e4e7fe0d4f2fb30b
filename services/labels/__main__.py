"""``python -m services.labels``: the label ingestion service (settings: docs/architecture.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.common.settings import SettingsParser, common_settings
from services.labels.metrics import COLLECTORS
from services.labels.server import create_server
from services.labels.store import LabelStore

DEFAULT_LABEL_DB = "state/labels.db"


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["labels"]
    parser = SettingsParser(spec)
    parser.add("--label-db", "ANNEAL_LABEL_DB", DEFAULT_LABEL_DB, "SQLite file of the label store")
    values = parser.parse(argv)
    store = LabelStore(values.label_db)
    try:
        run_service(
            spec,
            common_settings(values),
            lambda address, security: create_server(address, store, security=security),
            COLLECTORS,
        )
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
