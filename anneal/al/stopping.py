"""When to stop labelling: signals that need no held-out labels, and the rule that reads them.

Top-k agreement: for every archive image, its k nearest neighbours (inner product, itself
excluded) under the previous round's embeddings and under the current ones; the agreement is the
mean over images of |A and B| / |A or B| (Jaccard). 1.0 means retrieval over the archive no longer
changes from one round to the next, so further answers of the same kind are unlikely to change
what a user sees.

Rule (`StoppingRule`): stop after the first round at which the agreement has been at least
`agreement` for `patience` consecutive rounds (defaults 0.95 and 2, settings of the experiment).

Flattening (`flattening_round`), the ground truth the rule is compared with: the first round r
after which no later round's mAP exceeds round r's by more than `min_gain` (default 0.005, half a
point of mAP@20). It needs the held-out labels, so only an experiment can compute it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def nearest_neighbours(embeddings: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """(N, k) indices of each row's k most similar other rows (inner product), any order."""
    n = len(embeddings)
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, chunk):
        scores = embeddings[s : s + chunk] @ embeddings.T
        rows = np.arange(len(scores))
        scores[rows, s + rows] = -np.inf  # never its own neighbour
        out[s : s + chunk] = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return out


def neighbour_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Jaccard overlap of two (N, k) neighbour lists, row by row."""
    n, k = a.shape
    if k == 0:
        return 1.0
    # Offset each row's members into their own range so one flat intersection counts per row.
    width = int(max(a.max(), b.max())) + 1
    offset = (np.arange(n, dtype=np.int64) * width)[:, None]
    common = np.intersect1d(a + offset, b + offset, assume_unique=True)
    inter = np.bincount(common // width, minlength=n)
    return float(np.mean(inter / (2 * k - inter)))


def topk_agreement(previous: np.ndarray, current: np.ndarray, k: int) -> float:
    """Mean Jaccard overlap of each image's k-NN set under two embeddings of the same archive."""
    return neighbour_agreement(nearest_neighbours(previous, k), nearest_neighbours(current, k))


@dataclass(frozen=True)
class StoppingRule:
    """Stop once `agreement` has been reached in `patience` consecutive rounds."""

    agreement: float = 0.95
    patience: int = 2

    def stop_round(self, agreements: Sequence[float]) -> int | None:
        """The round (1-based, agreements[i] belongs to round i + 1) at which the rule fires."""
        run = 0
        for i, value in enumerate(agreements):
            run = run + 1 if value >= self.agreement else 0
            if run >= self.patience:
                return i + 1
        return None


def flattening_round(rounds: Sequence[int], values: Sequence[float], min_gain: float) -> int:
    """First round after which no later round gains more than `min_gain` over it."""
    v = np.asarray(values, dtype=np.float64)
    for i in range(len(v)):
        if i == len(v) - 1 or v[i + 1 :].max() - v[i] <= min_gain:
            return int(rounds[i])
    raise ValueError("no rounds given")
