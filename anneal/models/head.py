"""Projection head: backbone features -> L2-normalised embedding.

Round 0 must keep the pretrained features' retrieval quality, so the head never starts random:
with equal dimensions it starts as the identity; when it compresses, it starts as the PCA
projection of the archive's features (the best linear compression in the least-squares sense).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

PCA_CHUNK_ROWS = 16_384
"""Rows of features read at once (16,384 x 1280 float32: 84 MB)."""


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

    def init_pca(self, features: np.ndarray, chunk_rows: int = PCA_CHUNK_ROWS) -> None:
        """Start as the PCA projection of (normalised) features onto out_dim components.

        The components are the top eigenvectors of the features' covariance (in_dim x in_dim),
        made in two passes of ``chunk_rows`` rows (the mean, then the centred rows' products,
        each chunk's in float32, summed in float64): the projection the SVD of the centred
        features gives (up to each component's sign), without a copy of the features or an SVD
        over every row (a million 1280-d features: 4.9 GiB and hours, against 13 MB and about
        a minute).
        """
        chunks = [slice(s, s + chunk_rows) for s in range(0, len(features), chunk_rows)]
        total = np.zeros(self.in_dim, dtype=np.float64)
        for rows in chunks:
            total += _normalised(features[rows]).sum(axis=0, dtype=np.float64)
        mean = (total / max(len(features), 1)).astype(np.float32)
        covariance = np.zeros((self.in_dim, self.in_dim), dtype=np.float64)
        for rows in chunks:
            x = _normalised(features[rows]) - mean
            covariance += x.T @ x
        _, vectors = np.linalg.eigh(covariance)  # eigenvalues ascending
        components = vectors[:, ::-1][:, : self.out_dim].T
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(components.astype(np.float32)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = nn.functional.normalize(features, dim=1)
        out = self.linear(features)
        if self.branch is not None:
            out = out + self.branch(features)
        return nn.functional.normalize(out, dim=1)


def _normalised(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32; zero rows stay zero)."""
    x = np.asarray(features, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
