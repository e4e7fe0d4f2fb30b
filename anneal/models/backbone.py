"""Abstract backbone: images in, pooled feature vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import nn


class Backbone(nn.Module, ABC):
    """A feature extractor. Subclasses fill `forward_features`; they declare their input scaling."""

    #: Identifies the architecture and weights; part of the feature-cache key.
    name: str = "backbone"
    #: Length of the pooled feature vector.
    feature_dim: int = 0
    #: Side of the square input the network is fed.
    input_size: int = 224

    @abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Map a scaled (B, 3, H, W) batch to (B, feature_dim) features."""

    @abstractmethod
    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (B, 3, H, W) float batch of 0..255 pixel values to the network's input range."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.scale(x))

    def to_batch(self, images: list[np.ndarray]) -> torch.Tensor:
        """Resize RGB uint8 images to the input size; a float (B, 3, S, S) tensor of 0..255."""
        tensors = []
        for image in images:
            t = torch.as_tensor(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
            if t.shape[-2:] != (self.input_size, self.input_size):
                t = nn.functional.interpolate(
                    t, size=(self.input_size, self.input_size), mode="bilinear", antialias=True
                )
            tensors.append(t)
        return torch.cat(tensors)
