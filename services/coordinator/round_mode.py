"""A round's training mode as the coordinator runs it: what trains the model, what re-embeds.

``head`` (the default, cheap on a CPU): the head trains on the cached backbone features in the
coordinator (:class:`~anneal.training.modes.HeadMode`) and the archive is re-embedded from the
same features. ``full``: backbone and head fine-tune on Ray Train (``ray_train_full.py``) and the
archive goes through the new model on Ray actors (``ray_reembedder.py``). The runner holds one
:class:`RoundMode` per mode name and picks a round's by its ``mode``; nothing else knows which
mode runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from anneal.models.embedding_model import EmbeddingModel
from anneal.training.config import TrainConfig
from anneal.training.trainer import TrainReport
from services.coordinator.reembedder import ReEmbedder


class ModelTrainer(Protocol):
    """Trains a round's model (``TrainingMode.fit``'s shape: a new model, ``initial`` kept)."""

    @property
    def include_backbone_in_checkpoint(self) -> bool:
        """Whether the backbone changed, so the checkpoint must hold its weights."""
        ...

    def fit(
        self,
        initial: EmbeddingModel,
        pairs: np.ndarray,
        similar: np.ndarray,
        cfg: TrainConfig,
        generator: torch.Generator,
    ) -> tuple[EmbeddingModel, TrainReport]: ...


@dataclass(frozen=True)
class RoundMode:
    """How rounds of one mode train their model and embed the archive with it."""

    trainer: ModelTrainer | None
    """None: the workspace's head mode over its features as they are now (they grow when
    images are added to the archive)."""
    reembedder: ReEmbedder
