"""Training modes: what trains and what it reads.

`head`: the backbone is frozen; only the projection head trains, on cached backbone features
(cheap; the CPU default). `full`: backbone and head train together on augmented images (meant
for a GPU). A mode's `embeddings` go through the model's features path (head) or images path
(full): the mode only says which inputs it holds.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from anneal.data.image_io import read_image
from anneal.models.embedding_model import EmbeddingModel
from anneal.training.config import TrainConfig
from anneal.training.sources import FeatureSource, ImageSource, InputSource
from anneal.training.trainer import PairTrainer, TrainReport


class TrainingMode(ABC):
    """Subclasses fill `trainee`, `source` and `embeddings`."""

    name: str = "mode"
    device: str = "cpu"
    include_backbone_in_checkpoint: bool = False

    @abstractmethod
    def trainee(self, model: EmbeddingModel) -> nn.Module:
        """The part of the model that trains, mapping the source's inputs to embeddings."""

    @abstractmethod
    def source(self, model: EmbeddingModel) -> InputSource:
        """Inputs for archive rows."""

    def fit(
        self,
        initial: EmbeddingModel,
        pairs: np.ndarray,
        similar: np.ndarray,
        cfg: TrainConfig,
        generator: torch.Generator,
    ) -> tuple[EmbeddingModel, TrainReport]:
        """A new model trained from `initial` (never changed) on the labelled pairs."""
        model = copy.deepcopy(initial)
        trainer = PairTrainer.from_config(cfg, self.device)
        report = trainer.fit(self.trainee(model), self.source(model), pairs, similar, generator)
        self.trainee(model).to("cpu")
        return model, report

    @abstractmethod
    def embeddings(self, model: EmbeddingModel) -> np.ndarray:
        """The model's embeddings of every input row this mode holds, in row order."""


class HeadMode(TrainingMode):
    """Frozen backbone, head trained on cached features."""

    name = "head"

    def __init__(self, features: np.ndarray, device: str = "cpu") -> None:
        self.features = features
        self._source = FeatureSource(features)
        self.device = device

    def trainee(self, model: EmbeddingModel) -> nn.Module:
        return model.head

    def source(self, model: EmbeddingModel) -> InputSource:
        return self._source

    def embeddings(self, model: EmbeddingModel) -> np.ndarray:
        return model.embed_features(self.features)


class FullMode(TrainingMode):
    """Backbone and head fine-tuned on augmented images."""

    name = "full"
    include_backbone_in_checkpoint = True

    def __init__(self, paths: Sequence[Path], device: str = "cpu", batch_size: int = 64) -> None:
        self.paths = list(paths)
        self.device = device
        self.batch_size = batch_size

    def trainee(self, model: EmbeddingModel) -> nn.Module:
        return model

    def source(self, model: EmbeddingModel) -> InputSource:
        return ImageSource(self.paths, model.backbone, self.device)

    def embeddings(self, model: EmbeddingModel) -> np.ndarray:
        chunks = []
        for start in range(0, len(self.paths), self.batch_size):
            images = [read_image(p) for p in self.paths[start : start + self.batch_size]]
            chunks.append(model.embed_images(images, self.device))
        return np.concatenate(chunks)
