"""``python -m services.coordinator``: the round state machine (settings: docs/architecture.md).

Keeps its state and model checkpoints under ``ANNEAL_STATE_DIR/coordinator``; reads the archive
from ``ANNEAL_ARCHIVE``; calls the selection, label, search and embedding services at
``ANNEAL_*_ADDR`` (an empty embedding address runs without one: image queries then use whatever
model the embedding service has).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from anneal.al.training_pairs import DEFAULT_IMPLIED_PAIRS, TrainingPairs
from services.common.catalog import SERVICES
from services.common.priority import lower_priority
from services.common.runner import run_service
from services.common.settings import SettingsParser, common_settings
from services.coordinator.coordinator import Coordinator
from services.coordinator.downstream import Downstream
from services.coordinator.metrics import COLLECTORS
from services.coordinator.model_workspace import WorkspaceConfig
from services.coordinator.runner_factory import REEMBED_MODES, prepare_runner
from services.coordinator.server import create_server
from services.coordinator.state_store import StateStore

DEFAULT_STATE_DIR = "state"


def _dim(value: str) -> int | None:
    return int(value) if value and int(value) > 0 else None


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a whole number of 0 or more, not {value!r}")
    return int(value)


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["coordinator"]
    parser = SettingsParser(spec)
    parser.add("--state-dir", "ANNEAL_STATE_DIR", DEFAULT_STATE_DIR, "round state and checkpoints")
    parser.add("--archive", "ANNEAL_ARCHIVE", "", "archive folder")
    parser.add("--selection-addr", "ANNEAL_SELECTION_ADDR", "127.0.0.1:50054", "selection service")
    parser.add("--labels-addr", "ANNEAL_LABELS_ADDR", "127.0.0.1:50055", "label service")
    parser.add("--search-addr", "ANNEAL_SEARCH_ADDR", "127.0.0.1:50053", "search service")
    parser.add("--embedding-addr", "ANNEAL_EMBEDDING_ADDR", "127.0.0.1:50052", "embedding service")
    parser.add(
        "--feature-cache", "ANNEAL_FEATURE_CACHE", ".cache/features", "backbone feature cache"
    )
    parser.add("--backbone", "ANNEAL_BACKBONE", "efficientnet-lite0", "backbone name")
    parser.add(
        "--dim", "ANNEAL_EMBEDDING_DIM", "128", "embedding dimension (0: the backbone's)", _dim
    )
    parser.add(
        "--implied-pairs",
        "ANNEAL_IMPLIED_PAIRS",
        str(DEFAULT_IMPLIED_PAIRS),
        "pairs implied by transitivity trained on per round, sampled (0: the answers only)",
        _count,
    )
    parser.add("--reembed", "ANNEAL_REEMBED", "features", f"one of {', '.join(REEMBED_MODES)}")
    values = parser.parse(argv)
    settings = common_settings(values)
    if not values.archive:
        raise SystemExit(
            "the coordinator needs the archive folder: set --archive or ANNEAL_ARCHIVE"
        )
    lower_priority()  # training must not starve the query path (retrieval, search) of CPU
    folder = Path(values.state_dir) / "coordinator"
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    channels = {
        name: calls.channel(getattr(values, f"{name}_addr"))
        for name in ("selection", "labels", "search", "embedding")
        if getattr(values, f"{name}_addr")
    }
    downstream = Downstream(
        channels["selection"], channels["labels"], channels["search"], channels.get("embedding")
    )
    implied = values.implied_pairs
    config = WorkspaceConfig(
        values.backbone,
        values.dim,
        values.feature_cache,
        pairs=TrainingPairs(transitivity=implied > 0, implied_pairs=implied),
    )
    coordinator = Coordinator(
        StateStore(folder),
        lambda: prepare_runner(
            values.archive,
            folder / "models",
            config,
            downstream,
            values.reembed,
            channels.get("embedding"),
        ),
    )
    coordinator.start()
    try:
        run_service(
            spec,
            settings,
            lambda address, security: create_server(address, coordinator, security=security),
            COLLECTORS,
        )
    finally:
        coordinator.stop()
        for channel in channels.values():
            channel.close()


if __name__ == "__main__":
    main(sys.argv[1:])
