"""Where a training batch comes from: cached features (head mode) or images (full mode)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from anneal.data.image_io import read_image
from anneal.models.backbone import Backbone


class InputSource(ABC):
    """Model inputs for archive rows; subclasses fill `batch`."""

    @abstractmethod
    def batch(self, rows: np.ndarray, augment: bool, generator: torch.Generator) -> torch.Tensor:
        """Model inputs for these rows (augmented when training asks for it)."""

    @abstractmethod
    def __len__(self) -> int:
        """Archive rows the source holds."""


class FeatureSource(InputSource):
    """Cached backbone features: the head is all that trains (frozen backbone)."""

    def __init__(self, features: np.ndarray) -> None:
        self.features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.features)

    def batch(self, rows: np.ndarray, augment: bool, generator: torch.Generator) -> torch.Tensor:
        return self.features[torch.from_numpy(rows)]


class ImageSource(InputSource):
    """Decoded images, with flips and 90-degree rotations when augmenting: overhead imagery has
    no canonical up, so these keep the scene's meaning."""

    def __init__(self, paths: Sequence[Path], backbone: Backbone, device: str = "cpu") -> None:
        self.paths = list(paths)
        self.backbone = backbone
        self.device = device

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, rows: np.ndarray, augment: bool, generator: torch.Generator) -> torch.Tensor:
        x = self.backbone.to_batch([read_image(self.paths[int(r)]) for r in rows])
        if augment:
            out = []
            for image in x:
                k = int(torch.randint(4, (1,), generator=generator))
                image = torch.rot90(image, k, dims=(1, 2))
                if bool(torch.randint(2, (1,), generator=generator)):
                    image = torch.flip(image, dims=(2,))
                out.append(image)
            x = torch.stack(out)
        return x.to(self.device)
