"""Assembles a :class:`RoundRunner`: workspace (features), the training modes and evaluator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc

from anneal.models.extract import Ingest, Progress, extract_features
from services.common.embedding_files import EmbeddingFiles
from services.coordinator.downstream import Downstream
from services.coordinator.evaluation import Evaluator
from services.coordinator.model_workspace import ModelWorkspace, WorkspaceConfig
from services.coordinator.reembedder import (
    CachedFeatureReEmbedder,
    EmbeddingServiceReEmbedder,
    ReEmbedder,
)
from services.coordinator.round_mode import RoundMode
from services.coordinator.round_runner import RoundRunner

REEMBED_MODES = ("features", "service")

FullMode = Callable[[ModelWorkspace], RoundMode]
"""Builds full mode's parts over a ready workspace (``full_mode.py``'s ``full_round_mode``)."""


def prepare_runner(
    archive: str | Path,
    models_folder: Path,
    config: WorkspaceConfig,
    downstream: Downstream,
    reembed: str = "features",
    embedding_channel: grpc.Channel | None = None,
    progress: Progress | None = None,
    ingest: Ingest = extract_features,
    files: EmbeddingFiles | None = None,
    full: FullMode | None = None,
) -> RoundRunner:
    """Extract (or read cached) features with ``ingest``, reporting to ``progress``, and build
    the runner.

    Head rounds: ``reembed`` "features" applies the head to cached backbone features (fast);
    "service" streams the archive through the embedding service. Full rounds run only when
    ``full`` is given (a full round is refused otherwise). ``files``: where the bootstrap
    writes its version's embeddings (for the selection service to read).
    """
    if reembed not in REEMBED_MODES:
        raise ValueError(f"unknown re-embedding mode {reembed!r}; use one of {REEMBED_MODES}")
    workspace = ModelWorkspace.prepare(archive, models_folder, config, progress, ingest)
    reembedder: ReEmbedder
    if reembed == "service":
        if embedding_channel is None:
            raise ValueError("re-embedding through the embedding service needs its address")
        reembedder = EmbeddingServiceReEmbedder(embedding_channel)
    else:
        reembedder = CachedFeatureReEmbedder()
    modes = {"head": RoundMode(None, reembedder)}
    if full is not None:
        modes["full"] = full(workspace)
    evaluator = Evaluator(workspace.ids, workspace.classes) if workspace.classes else None
    return RoundRunner(workspace, downstream, modes, evaluator, files)
