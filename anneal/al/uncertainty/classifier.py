"""BCGUE: uncertainty of a binary similar/dissimilar classifier on pair representations."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from anneal.al.context import SelectionContext
from anneal.al.pair_features import pair_features
from anneal.al.uncertainty.base import Uncertainty


class ClassifierUncertainty(Uncertainty):
    """A pair is the more uncertain the closer P(similar) is to 0.5.

    The classifier is a class-balanced logistic regression on (|a-b|, a*b). Until the labels hold
    `min_per_class` answers of each kind it cannot be trained, and `fallback` scores instead
    (by default the mixture-threshold MGUE).
    """

    name = "bcgue"

    def __init__(
        self, fallback: Uncertainty, min_per_class: int = 2, c: float = 1.0, chunk: int = 100_000
    ) -> None:
        self.fallback = fallback
        self.min_per_class = min_per_class
        self.c = c
        self.chunk = chunk

    def probabilities(self, ctx: SelectionContext) -> np.ndarray | None:
        """P(similar) per pool pair, or None while the labels cannot train the classifier."""
        n_similar = int(ctx.similar.sum())
        if min(n_similar, len(ctx.similar) - n_similar) < self.min_per_class:
            return None
        model = LogisticRegression(C=self.c, class_weight="balanced", max_iter=1000)
        model.fit(pair_features(ctx.embeddings, ctx.labelled), ctx.similar)
        out = np.empty(len(ctx.pool))
        for s in range(0, len(ctx.pool), self.chunk):
            feats = pair_features(ctx.embeddings, ctx.pool[s : s + self.chunk])
            out[s : s + self.chunk] = model.predict_proba(feats)[:, 1]
        return out

    def score(self, ctx: SelectionContext) -> np.ndarray:
        p = self.probabilities(ctx)
        if p is None:
            ctx.info["classifier"] = "fallback"
            return self.fallback.score(ctx)
        ctx.info["classifier"] = "trained"
        return -np.abs(p - 0.5)
