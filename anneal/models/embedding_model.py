"""The embedding model: backbone -> projection head -> L2-normalised vector, with checkpoints.

Two ways in, one each: `embed_images` (RGB images) and `embed_features` (backbone features, as
extraction caches them). The images path is the backbone's `features` followed by the features
path, so both give the same vectors for the same image.

A checkpoint names its backbone and holds the head's weights; it holds the backbone's weights
only when they were fine-tuned (`full` mode), so head-mode checkpoints stay a few MB.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from anneal.errors import StateError
from anneal.models.backbone import Backbone
from anneal.models.head import ProjectionHead
from anneal.models.model_version import ModelVersion
from anneal.models.registry import build_backbone

EMBED_CHUNK_ROWS = 65_536
"""Rows of features the head embeds at once (65,536 x 1280 float32 is 320 MiB)."""


@dataclass(frozen=True)
class ModelInfo:
    backbone: str
    feature_dim: int
    dim: int
    version: ModelVersion


class EmbeddingModel(nn.Module):
    """Backbone and head together; `version` names the model a set of embeddings came from."""

    def __init__(
        self,
        backbone: Backbone,
        head: ProjectionHead,
        backbone_name: str,
        version: ModelVersion | None = None,
    ) -> None:
        """`version` None: round 0 with the head's dimension (an untrained head)."""
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.backbone_name = backbone_name
        self.version = version or ModelVersion.start(head.out_dim)

    @classmethod
    def create(
        cls,
        backbone_name: str = "efficientnet-lite0",
        dim: int | None = None,
        weights: str | Path | None = None,
        hidden: int = 0,
    ) -> EmbeddingModel:
        """A round-0 model: pretrained backbone, identity (or, if `dim` is smaller, PCA) head."""
        backbone = build_backbone(backbone_name, weights)
        return cls(backbone, ProjectionHead(backbone.feature_dim, dim, hidden), backbone_name)

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.backbone_name, self.head.in_dim, self.head.out_dim, self.version)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    @torch.inference_mode()
    def embed_features(
        self, features: np.ndarray, chunk_rows: int = EMBED_CHUNK_ROWS
    ) -> np.ndarray:
        """The features path: embeddings of backbone features, with the head where it is.

        ``chunk_rows`` rows at a time: the head normalises its input, a copy as large as the
        input, so a million 1280-d features (4.9 GiB) cost one chunk's copy, not a second 4.9.
        """
        self.head.eval()
        device = self.head.linear.weight.device
        out = np.empty((len(features), self.head.out_dim), dtype=np.float32)
        for start in range(0, len(features), chunk_rows):
            chunk = np.asarray(features[start : start + chunk_rows], np.float32)
            x = torch.from_numpy(chunk).to(device)
            out[start : start + len(chunk)] = self.head(x).float().cpu().numpy()
        return out

    def embed_images(
        self, images: Sequence[np.ndarray], device: torch.device | str = "cpu"
    ) -> np.ndarray:
        """The images path: embeddings of RGB uint8 images (one batch; the backbone runs on
        `device`)."""
        return self.embed_features(self.backbone.features(images, device))

    def save(self, path: str | Path, include_backbone: bool = False) -> None:
        """Write a checkpoint atomically (never a half-written file under the final name)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "backbone": self.backbone_name,
            "feature_dim": self.head.in_dim,
            "dim": self.head.out_dim,
            "hidden": self.head.hidden,
            "version": str(self.version),
            "head": self.head.state_dict(),
            "backbone_state": self.backbone.state_dict() if include_backbone else None,
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path, backbone: Backbone | None = None) -> EmbeddingModel:
        """Read a checkpoint; pass an already built `backbone` to share it between versions
        (a checkpoint with fine-tuned backbone weights gets a copy of it with those, so the
        shared one never changes)."""
        path = Path(path)
        if not path.is_file():
            raise StateError(f"model checkpoint {path} does not exist; train a round first")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if backbone is None:
            backbone = build_backbone(state["backbone"])
        if state["backbone_state"] is not None:
            backbone = copy.deepcopy(backbone)
            backbone.load_state_dict(state["backbone_state"])
        head = ProjectionHead(state["feature_dim"], state["dim"], int(state.get("hidden", 0)))
        head.load_state_dict(state["head"])
        return cls(backbone, head, state["backbone"], _saved_version(state["version"], head))


def _saved_version(saved: str | int, head: ProjectionHead) -> ModelVersion:
    """The version a checkpoint holds; checkpoints written before the version had a type hold
    the round number (0: the untrained head, named with its dimension)."""
    if isinstance(saved, str):
        return ModelVersion.parse(saved)
    return ModelVersion.start(head.out_dim) if saved == 0 else ModelVersion.trained(int(saved))
