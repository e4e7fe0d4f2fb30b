"""Which classes the zero-shot model confuses: the input of the boundary noise model."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def neighbour_confusion(
    embeddings: np.ndarray, labels: np.ndarray, k: int = 10, smoothing: float = 1.0
) -> np.ndarray:
    """(C, C) matrix: row a is the class mix of the `k` nearest other images of class-a images.

    Rows sum to 1. The diagonal is how often retrieval stays in the class; an off-diagonal
    ``[a, b]`` how often the model takes a class-a image for one of class b. `smoothing` adds
    that many pseudo-neighbours to every cell (additive smoothing), so a pair of classes the
    zero-shot model happens never to mix up is rare but not impossible to confuse, and a
    target flip rate stays reachable on an archive the model already separates.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    k = min(k, len(labels) - 1)
    if k < 1:
        raise ValueError("a confusion matrix needs at least two images")
    index = NearestNeighbors(n_neighbors=k).fit(embeddings)
    neighbours = index.kneighbors(return_distance=False)  # excludes each image itself
    counts = np.full((n_classes, n_classes), float(smoothing))
    np.add.at(counts, (np.repeat(labels, k), labels[neighbours].ravel()), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
