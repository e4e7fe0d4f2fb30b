"""Projection head: backbone features -> L2-normalised embedding.

Round 0 must keep the pretrained features' retrieval quality, so the head never starts random:
with equal dimensions it starts as the identity; when it compresses, it starts as the PCA
projection of the archive's features (the best linear compression in the least-squares sense).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ProjectionHead(nn.Module):
    """A linear map followed by L2 normalisation; with `hidden` > 0 a residual branch
    (linear, ReLU, linear) is added to the map. The branch's last layer starts at zero, so a
    larger head starts exactly where the linear one does."""

    def __init__(self, in_dim: int, out_dim: int | None = None, hidden: int = 0) -> None:
        super().__init__()
        out_dim = in_dim if out_dim is None else out_dim
        if not 0 < out_dim <= in_dim:
            raise ValueError(f"head dimension must be in 1..{in_dim}, got {out_dim}")
        if hidden < 0:
            raise ValueError(f"hidden units must be 0 (linear head) or more, got {hidden}")
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(out_dim, in_dim))
        self.branch: nn.Sequential | None = None
        if hidden > 0:
            last = nn.Linear(hidden, out_dim)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.branch = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), last)

    def init_pca(self, features: np.ndarray) -> None:
        """Start as the PCA projection of (normalised) features onto out_dim components."""
        x = features / np.linalg.norm(features, axis=1, keepdims=True).clip(1e-12)
        x = x - x.mean(axis=0, keepdims=True)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(vt[: self.out_dim].astype(np.float32)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = nn.functional.normalize(features, dim=1)
        out = self.linear(features)
        if self.branch is not None:
            out = out + self.branch(features)
        return nn.functional.normalize(out, dim=1)
