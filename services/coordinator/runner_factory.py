"""Assembles a :class:`RoundRunner`: workspace (features), re-embedder and evaluator."""

from __future__ import annotations

from pathlib import Path

import grpc

from anneal.models.extract import BatchExtractor, Progress
from services.coordinator.downstream import Downstream
from services.coordinator.evaluation import Evaluator
from services.coordinator.model_workspace import ModelWorkspace, WorkspaceConfig
from services.coordinator.reembedder import (
    CachedFeatureReEmbedder,
    EmbeddingServiceReEmbedder,
    ReEmbedder,
)
from services.coordinator.round_runner import RoundRunner

REEMBED_MODES = ("features", "service")


def prepare_runner(
    archive: str | Path,
    models_folder: Path,
    config: WorkspaceConfig,
    downstream: Downstream,
    reembed: str = "features",
    embedding_channel: grpc.Channel | None = None,
    progress: Progress | None = None,
    extractor: BatchExtractor | None = None,
) -> RoundRunner:
    """Extract (or read cached) features, reporting to ``progress``, and build the runner.

    ``reembed``: "features" applies the head to cached backbone features (head mode, fast);
    "service" streams the archive through the embedding service.
    """
    if reembed not in REEMBED_MODES:
        raise ValueError(f"unknown re-embedding mode {reembed!r}; use one of {REEMBED_MODES}")
    workspace = ModelWorkspace.prepare(archive, models_folder, config, progress, extractor)
    reembedder: ReEmbedder
    if reembed == "service":
        if embedding_channel is None:
            raise ValueError("re-embedding through the embedding service needs its address")
        reembedder = EmbeddingServiceReEmbedder(embedding_channel)
    else:
        reembedder = CachedFeatureReEmbedder()
    evaluator = Evaluator(workspace.ids, workspace.classes) if workspace.classes else None
    return RoundRunner(workspace, downstream, reembedder, evaluator)
