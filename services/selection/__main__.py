"""``python -m services.selection``: the pair selection service (settings: docs/architecture.md).

It reads the archive's image ids from ``ANNEAL_ARCHIVE``, their current embeddings from the
search service (``ANNEAL_SEARCH_ADDR``), registers rounds with the label service
(``ANNEAL_LABELS_ADDR``) and keeps each round's pairs under ``ANNEAL_STATE_DIR/selection``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from anneal.data.archive import Archive
from services.common.catalog import SERVICES
from services.common.priority import lower_priority
from services.common.runner import run_service
from services.common.settings import SettingsParser, common_settings
from services.selection.label_client import LabelClient
from services.selection.round_store import RoundStore
from services.selection.rounds import SelectionRounds
from services.selection.server import create_server
from services.selection.vector_source import SearchServiceVectors

DEFAULT_STATE_DIR = "state"


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["selection"]
    parser = SettingsParser(spec)
    parser.add("--state-dir", "ANNEAL_STATE_DIR", DEFAULT_STATE_DIR, "folder of round state")
    parser.add("--archive", "ANNEAL_ARCHIVE", "", "archive folder (its image ids)")
    parser.add("--search-addr", "ANNEAL_SEARCH_ADDR", "127.0.0.1:50053", "search service")
    parser.add("--labels-addr", "ANNEAL_LABELS_ADDR", "127.0.0.1:50055", "label service")
    values = parser.parse(argv)
    settings = common_settings(values)
    if not values.archive:
        raise SystemExit("selection needs the archive folder: set --archive or ANNEAL_ARCHIVE")
    lower_priority()  # scoring candidate pairs must not starve the query path of CPU
    archive = Archive.from_folder(values.archive)
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    search = calls.channel(values.search_addr)
    labels = calls.channel(values.labels_addr)
    rounds = SelectionRounds(
        RoundStore(Path(values.state_dir) / "selection"),
        SearchServiceVectors(search, archive.ids),
        LabelClient(labels),
    )
    try:
        run_service(
            spec,
            settings,
            lambda address, security: create_server(address, rounds, security=security),
        )
    finally:
        search.close()
        labels.close()


if __name__ == "__main__":
    main(sys.argv[1:])
