"""Load a labelled archive once for an experiment: split, features, the round-0 model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from anneal.data.archive import Archive
from anneal.data.split import Split, class_tolerance, stable_split
from anneal.experiment.config import ExperimentConfig
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.extract import Progress, extract_features
from anneal.training.modes import FullMode, HeadMode, TrainingMode

log = logging.getLogger(__name__)


@dataclass
class ExperimentData:
    """The readable images of a labelled archive and what every run of an experiment shares."""

    archive: Archive
    labels: np.ndarray
    split: Split
    initial: EmbeddingModel
    archive_mode: TrainingMode
    query_mode: TrainingMode
    failed: dict[str, str]

    @property
    def archive_ids(self) -> list[str]:
        return [self.archive.images[int(r)].id for r in self.split.archive]

    @property
    def archive_labels(self) -> np.ndarray:
        return self.labels[self.split.archive]

    @property
    def query_labels(self) -> np.ndarray:
        return self.labels[self.split.queries]


def prepare(
    cfg: ExperimentConfig,
    progress: Progress | None = None,
    splitter: Callable[[Archive], Split] | None = None,
) -> ExperimentData:
    """Scan, extract (or load cached) features, split, and build the round-0 model.

    `splitter` replaces the stable split (a benchmark comparing splits passes one)."""
    full = Archive.from_folder(cfg.archive)
    full.labels()  # ArchiveError now if there are no class folders
    initial = EmbeddingModel.create(cfg.backbone, cfg.dim, cfg.weights, cfg.head_hidden)
    extraction = extract_features(
        full, initial.backbone, cfg.cache_dir, device=cfg.device, progress=progress
    )
    archive = full.subset(extraction.rows)
    labels = archive.labels()
    if splitter is None:
        split = stable_split(archive.ids, cfg.query_fraction, cfg.split_seed)
    else:
        split = splitter(archive)
    _log_class_shares(split, labels, cfg.query_fraction)
    features = extraction.features
    if initial.head.out_dim < initial.head.in_dim:
        initial.head.init_pca(features[split.archive])
    archive_mode: TrainingMode
    query_mode: TrainingMode
    if cfg.mode == "head":
        archive_mode = HeadMode(features[split.archive], cfg.device)
        query_mode = HeadMode(features[split.queries], cfg.device)
    else:
        paths = [image.path for image in archive.images]
        archive_mode = FullMode([paths[int(r)] for r in split.archive], cfg.device)
        query_mode = FullMode([paths[int(r)] for r in split.queries], cfg.device)
    return ExperimentData(
        archive, labels, split, initial, archive_mode, query_mode, extraction.failed
    )


def _log_class_shares(split: Split, labels: np.ndarray, fraction: float) -> None:
    """Say how far the per-image split strays from `fraction` per class (docs/method.md)."""
    sizes = np.bincount(labels)
    queries = np.bincount(labels[split.queries], minlength=len(sizes))
    deviation = np.abs(queries - fraction * sizes)
    log.info(
        "split: %d queries, %d archive; per-class queries %d..%d, max deviation %.1f images",
        len(split.queries),
        len(split.archive),
        queries.min(),
        queries.max(),
        deviation.max(),
    )
    beyond = [
        int(c) for c in np.flatnonzero(deviation > [class_tolerance(n, fraction) for n in sizes])
    ]
    if beyond:
        log.warning("split: classes %s are outside the documented tolerance", beyond)
