"""A symmetric representation of a pair: the same vector for (a, b) and (b, a)."""

from __future__ import annotations

import numpy as np


def pair_features(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Concatenate |a - b| and a * b (2D values per pair)."""
    a, b = embeddings[pairs[:, 0]], embeddings[pairs[:, 1]]
    return np.concatenate([np.abs(a - b), a * b], axis=1).astype(np.float32)
