"""Abstract backbone: images in, pooled feature vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

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

    @torch.inference_mode()
    def features(
        self, images: Sequence[np.ndarray], device: torch.device | str = "cpu"
    ) -> np.ndarray:
        """Features of RGB uint8 images (one forward pass on `device`; batch them yourself)."""
        self.eval().to(device)
        return self(self.to_batch(images).to(device)).float().cpu().numpy()

    def to_batch(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB images at the input size; a float (B, 3, S, S) tensor of 0..255."""
        resized = [torch.from_numpy(self.resize(image)).permute(2, 0, 1) for image in images]
        return torch.stack(resized)

    def resize(self, image: np.ndarray) -> np.ndarray:
        """An RGB (H, W, 3) image of 0..255 values at the input size: float32 (S, S, 3).

        One already at the input size is only converted, so resizing images one by one as they
        are decoded (to hold one full-size image at a time) and batching them later gives the
        same numbers as batching the full-size images."""
        t = torch.as_tensor(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
        if t.shape[-2:] != (self.input_size, self.input_size):
            t = nn.functional.interpolate(
                t, size=(self.input_size, self.input_size), mode="bilinear", antialias=True
            )
        return t[0].permute(1, 2, 0).numpy()
