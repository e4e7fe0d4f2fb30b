"""The archive as the coordinator trains on it: backbone features, models and checkpoints.

Head mode (the default): the backbone is frozen, so the archive's backbone features are
extracted once (and cached on disk by content) and every round only trains the projection head
on them. A full-mode round passes its own trainer (``round_mode.py``), which fine-tunes the
backbone on the images too. Each round trains from the round-0 model on all labels so far, so a
round's model does not depend on the path of earlier ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from anneal.al.labelled_pairs import Answer, LabelledPairs
from anneal.al.round_parameters import round_generator
from anneal.al.training_pairs import TrainingPairs
from anneal.data.archive import Archive
from anneal.errors import ArchiveError
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.extract import Ingest, Progress, extract_features
from anneal.models.model_version import ModelVersion
from anneal.models.registry import build_backbone
from anneal.training.config import TrainConfig
from anneal.training.modes import HeadMode
from services.coordinator.images_to_embed import ImagesToEmbed
from services.coordinator.round_mode import ModelTrainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkspaceConfig:
    """Backbone, embedding dimension (None: the backbone's), feature store folder and how many
    images it stores per batch (an interrupted extraction loses at most one), what a round
    trains on (the answers and the pairs they imply) and how."""

    backbone: str = "efficientnet-lite0"
    dim: int | None = 128
    cache_dir: str = ".cache/features"
    extract_batch: int = 32
    train: TrainConfig = field(default_factory=TrainConfig)
    pairs: TrainingPairs = field(default_factory=TrainingPairs)


@dataclass(frozen=True)
class Growth:
    """What :meth:`ModelWorkspace.grow` added: workspace rows ``start`` to the end, and the new
    files it left out as unreadable (id -> reason)."""

    start: int
    ids: list[str]
    unreadable: dict[str, str]


class ModelWorkspace:
    """Features of the readable archive images (row i is ``ids[i]``) and the models over them.

    It grows when images are added to the archive folder (:meth:`grow`): their rows are appended,
    so rows never move while the coordinator runs; a restart orders them as the folder does.
    """

    def __init__(
        self,
        archive: Archive,
        features: np.ndarray,
        rows: np.ndarray,
        folder: Path,
        config: WorkspaceConfig,
        progress: Progress | None = None,
        ingest: Ingest = extract_features,
    ) -> None:
        """``progress`` and ``ingest`` serve the extractions of added images (:meth:`grow`)."""
        self.archive = archive
        self.features = features
        archive_ids = archive.ids  # a new list at every access: read once, not once per row
        self.ids = [archive_ids[int(r)] for r in rows]
        self.paths = [archive.images[int(r)].path for r in rows]
        self.classes = (
            [archive.images[int(r)].label or "" for r in rows] if archive.is_labelled else None
        )
        self.folder = folder
        self.config = config
        self._progress = progress
        self._ingest = ingest
        self._rows = {image_id: row for row, image_id in enumerate(self.ids)}
        self._backbone = build_backbone(config.backbone)
        self.head_mode = HeadMode(features)
        self._round0: EmbeddingModel | None = None

    @classmethod
    def prepare(
        cls,
        archive_folder: str | Path,
        folder: Path,
        config: WorkspaceConfig,
        progress: Progress | None = None,
        ingest: Ingest = extract_features,
    ) -> ModelWorkspace:
        """Scan the archive and extract (or read stored) backbone features of every image,
        reporting to ``progress``; ``ingest`` computes them (default: the backbone here)."""
        archive = Archive.from_folder(archive_folder)
        backbone = build_backbone(config.backbone)
        extraction = ingest(
            archive,
            backbone,
            cache_dir=config.cache_dir,
            batch_size=config.extract_batch,
            progress=progress,
        )
        if extraction.failed:
            log.warning("%d unreadable archive images are left out", len(extraction.failed))
        return cls(archive, extraction.features, extraction.rows, folder, config, progress, ingest)

    def images(self, rows: Sequence[int] | None = None) -> ImagesToEmbed:
        """Workspace rows ``rows`` (None: all, without a copy) as a re-embedder takes them."""
        if rows is None:
            return ImagesToEmbed(self.ids, self.features, self.paths)
        return ImagesToEmbed(
            [self.ids[r] for r in rows], self.features[list(rows)], [self.paths[r] for r in rows]
        )

    def grow(self) -> Growth:
        """Scan the archive folder again and append the images not in the workspace yet.

        Only the new files are read and their features computed (or read from the feature
        store); files unreadable now are left out and tried again next time. Images gone from
        the folder stay (removing images is not supported). The round-0 model stays as it was
        saved: its PCA head is fitted once, on the archive of the first start. The lists of ids
        and paths grow in place, so a part holding them (full mode's trainer) sees the rows.
        """
        start = len(self.ids)
        scanned = Archive.from_folder(self.archive.root)
        new = [image for image in scanned.images if image.id not in self._rows]
        if not new:
            return Growth(start, [], {})
        added = Archive(scanned.root, new)
        try:
            extraction = self._ingest(
                added,
                self._backbone,
                cache_dir=self.config.cache_dir,
                batch_size=self.config.extract_batch,
                progress=self._progress,
            )
        except ArchiveError:  # none of the new files could be read
            return Growth(start, [], {image.id: "unreadable" for image in new})
        ids = [new[int(r)].id for r in extraction.rows]
        self.features = np.concatenate([self.features, extraction.features])
        self.ids.extend(ids)
        self.paths.extend(new[int(r)].path for r in extraction.rows)
        if self.classes is not None:
            self.classes.extend(new[int(r)].label or "" for r in extraction.rows)
        self._rows.update((image_id, start + row) for row, image_id in enumerate(ids))
        self.head_mode = HeadMode(self.features)
        log.info("the workspace grew by %d images to %d", len(ids), len(self.ids))
        return Growth(start, ids, extraction.failed)

    def model_version(self, round_number: int) -> ModelVersion:
        """The version of a round's model; round 0 names its dimension."""
        if round_number == 0:
            return ModelVersion.start(self.config.dim or self.features.shape[1])
        return ModelVersion.trained(round_number)

    def checkpoint(self, version: ModelVersion) -> Path:
        return self.folder / f"{version}.pt"

    def round0(self) -> EmbeddingModel:
        """The round-0 model (PCA head over the archive features), saved once."""
        if self._round0 is None:
            version = self.model_version(0)
            path = self.checkpoint(version)
            if path.is_file():
                self._round0 = EmbeddingModel.load(path, backbone=self._backbone)
            else:
                head_dim = self.config.dim
                model = EmbeddingModel.create(self.config.backbone, head_dim)
                if head_dim is not None and head_dim < self.features.shape[1]:
                    model.head.init_pca(self.features)
                model.version = version
                model.save(path)
                self._round0 = model
        return self._round0

    def model(self, version: ModelVersion) -> EmbeddingModel:
        """The model ``version`` names: this workspace's round 0, or a saved checkpoint
        (StateError if there is none, e.g. a round 0 of another dimension never saved here)."""
        if version == self.model_version(0):
            return self.round0()
        return EmbeddingModel.load(self.checkpoint(version), backbone=self._backbone)

    def train(
        self,
        round_number: int,
        answers: list[Answer],
        seed: int,
        trainer: ModelTrainer | None = None,
    ) -> Path:
        """Train the round's model from round 0 on ``answers`` with ``trainer`` (None: head
        mode on the cached features) and save its checkpoint."""
        trainer = trainer or self.head_mode
        labelled = LabelledPairs.from_answers(answers, self._rows)
        if len(labelled) == 0:
            raise ValueError(
                "none of the labelled pairs names two different indexed archive images;"
                " nothing to train on"
            )
        generator = torch.Generator().manual_seed(seed)
        chosen = self.config.pairs.compose(
            len(self.ids),
            labelled.pairs,
            labelled.similar,
            round_generator(seed, round_number),
        )
        model, report = trainer.fit(
            self.round0(), chosen.pairs, chosen.similar, self.config.train, generator
        )
        model.version = self.model_version(round_number)
        path = self.checkpoint(model.version)
        model.save(path, include_backbone=trainer.include_backbone_in_checkpoint)
        log.info(
            "trained round %d on %d answers and %d implied pairs: loss %.4f in %.1fs"
            " (%d steps on %d workers)",
            round_number,
            len(labelled),
            chosen.implied,
            report.final_loss,
            report.seconds,
            report.steps,
            report.workers,
        )
        return path
