"""Confident pool pairs as pseudo-labels: extra training pairs nobody was asked about.

The BCGUE pair classifier, trained on the answers so far, scores the round's candidate pool;
pairs it calls similar or dissimilar with at least `confidence` become training labels, half of
each kind where both have enough (sampled without replacement). They are never stored as
answers and are recomputed every round, so a wrong pseudo-label lives one round only.
"""

from __future__ import annotations

import numpy as np

from anneal.al.pool import PoolBuilder
from anneal.al.uncertainty.classifier import ClassifierUncertainty
from anneal.al.uncertainty.margin import MarginUncertainty


class PseudoLabeller:
    """Up to `count` confident pool pairs and the classifier's bits for them."""

    def __init__(
        self,
        count: int,
        confidence: float = 0.95,
        pool: PoolBuilder | None = None,
        classifier: ClassifierUncertainty | None = None,
    ) -> None:
        if not 0.5 < confidence < 1.0:
            raise ValueError(f"confidence must be above 0.5 and below 1, got {confidence}")
        self.count = count
        self.confidence = confidence
        self.pool = pool or PoolBuilder()
        self.classifier = classifier or ClassifierUncertainty(MarginUncertainty(), chunk=4096)

    def label(
        self,
        embeddings: np.ndarray,
        labelled: np.ndarray,
        similar: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canonical pseudo-labelled pairs (none of them labelled) and their bits."""
        empty = np.empty((0, 2), np.int64), np.empty(0, bool)
        model = self.classifier.fit(embeddings, labelled, similar)
        if model is None or self.count < 1:
            return empty
        pool = self.pool.build(embeddings, labelled, rng)
        p = self.classifier.predict(model, embeddings, pool)
        pos = np.flatnonzero(p >= self.confidence)
        neg = np.flatnonzero(p <= 1.0 - self.confidence)
        n_pos = min(len(pos), max(self.count // 2, self.count - len(neg)))
        n_neg = min(len(neg), self.count - n_pos)
        keep = np.concatenate(
            [rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)]
        )
        keep.sort()
        return pool[keep], p[keep] >= 0.5
