"""``python -m services.coordinator``: the round state machine (settings: docs/architecture.md).

Keeps its state and model checkpoints under ``ANNEAL_STATE_DIR/coordinator``, each index
version's embeddings under ``ANNEAL_EMBEDDINGS_DIR`` (default ``ANNEAL_STATE_DIR/coordinator/
embeddings``, where the selection service reads them); reads the archive
from ``ANNEAL_ARCHIVE``; calls the selection, label, search and embedding services at
``ANNEAL_*_ADDR`` (an empty embedding address runs without one: image queries then use whatever
model the embedding service has).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from anneal.al.training_pairs import TrainingPairs
from anneal.models.extract import Ingest, extract_features
from anneal.models.extraction_progress import ExtractionProgress
from services.common.catalog import SERVICES
from services.common.embedding_files import EmbeddingFiles
from services.common.priority import lower_priority
from services.common.runner import run_service
from services.common.settings import embeddings_folder
from services.coordinator.coordinator import Coordinator
from services.coordinator.downstream import Downstream
from services.coordinator.metrics import COLLECTORS, watch_extraction
from services.coordinator.model_workspace import WorkspaceConfig
from services.coordinator.runner_factory import FullMode, prepare_runner
from services.coordinator.server import create_server
from services.coordinator.settings import CoordinatorSettings
from services.coordinator.state_store import StateStore

if TYPE_CHECKING:
    from services.coordinator.model_workspace import ModelWorkspace
    from services.coordinator.ray_extractor import RayExtractor
    from services.coordinator.round_mode import RoundMode


def full_mode(settings: CoordinatorSettings, storage: Path) -> FullMode:
    """Full rounds on the Ray cluster of ``--ray-address`` (joined on the first one); Ray is
    imported once the workspace is ready, not at start-up."""

    def build(workspace: ModelWorkspace) -> RoundMode:
        from services.coordinator.full_mode import full_round_mode
        from services.embedding.ray_session import connect_ray

        return full_round_mode(
            workspace,
            storage,
            settings.train_workers,
            lambda: connect_ray(settings.ray_address),
        )

    return build


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["coordinator"]
    settings = CoordinatorSettings.read(argv)
    if not settings.archive:
        raise SystemExit(
            "the coordinator needs the archive folder: set --archive or ANNEAL_ARCHIVE"
        )
    lower_priority()  # training must not starve the query path (retrieval, search) of CPU
    folder = Path(settings.state_dir) / "coordinator"
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    addresses = {
        "selection": settings.selection_addr,
        "labels": settings.labels_addr,
        "search": settings.search_addr,
        "embedding": settings.embedding_addr,
    }
    channels = {name: calls.channel(address) for name, address in addresses.items() if address}
    downstream = Downstream(
        channels["selection"], channels["labels"], channels["search"], channels.get("embedding")
    )
    implied = settings.implied_pairs
    config = WorkspaceConfig(
        settings.backbone,
        settings.dim,
        settings.feature_cache,
        pairs=TrainingPairs(transitivity=implied > 0, implied_pairs=implied),
    )
    files = EmbeddingFiles(embeddings_folder(settings.embeddings_dir, settings.state_dir))
    extraction = ExtractionProgress()
    watch_extraction(extraction)
    ingest: Ingest = extract_features
    pool: RayExtractor | None = None
    if settings.extract_workers:  # Ray is imported only then: it adds seconds to every start
        from services.embedding.ray_session import connect_ray

        connect_ray(settings.ray_address)
        if settings.extract_engine == "actors":
            from services.coordinator.ray_extractor import RayExtractor

            pool = RayExtractor.start(settings.extract_workers, settings.backbone)
            ingest = functools.partial(extract_features, extractor=pool)
        else:
            from services.coordinator.ray_data_ingest import RayDataIngest

            ingest = RayDataIngest(settings.extract_workers, settings.backbone)
    coordinator = Coordinator(
        StateStore(folder),
        lambda: prepare_runner(
            settings.archive,
            folder / "models",
            config,
            downstream,
            settings.reembed,
            channels.get("embedding"),
            progress=extraction,
            ingest=ingest,
            files=files,
            full=full_mode(settings, folder / "ray-train"),
        ),
        extraction=extraction,
        embeddings=files,
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
        if pool is not None:
            pool.close()
        for channel in channels.values():
            channel.close()


if __name__ == "__main__":
    main(sys.argv[1:])
