"""BCGUE: uncertainty of a binary similar/dissimilar classifier on pair representations."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin

from anneal.al.calibration import fit_pair_classifier
from anneal.al.context import SelectionContext
from anneal.al.pair_features import pair_features
from anneal.al.uncertainty.base import Uncertainty


class ClassifierUncertainty(Uncertainty):
    """A pair is the more uncertain the closer P(similar) is to 0.5.

    The classifier is a class-balanced logistic regression on (|a-b|, a*b), optionally
    calibrated (`calibration`, see anneal/al/calibration.py). Until the labels hold
    `min_per_class` answers of each kind it cannot be trained, and `fallback` scores instead
    (by default the mixture-threshold MGUE).
    """

    name = "bcgue"

    def __init__(
        self,
        fallback: Uncertainty,
        min_per_class: int = 2,
        c: float = 1.0,
        chunk: int = 100_000,
        calibration: str = "none",
    ) -> None:
        self.fallback = fallback
        self.min_per_class = min_per_class
        self.c = c
        self.chunk = chunk
        self.calibration = calibration

    def fit(
        self, embeddings: np.ndarray, labelled: np.ndarray, similar: np.ndarray
    ) -> ClassifierMixin | None:
        """The classifier trained on the labelled pairs, or None while they cannot train it."""
        n_similar = int(similar.sum())
        if min(n_similar, len(similar) - n_similar) < self.min_per_class:
            return None
        return fit_pair_classifier(
            pair_features(embeddings, labelled), similar, self.c, self.calibration
        )

    def predict(
        self, model: ClassifierMixin, embeddings: np.ndarray, pairs: np.ndarray
    ) -> np.ndarray:
        """P(similar) per pair, in chunks so a large pool never needs all features at once."""
        out = np.empty(len(pairs))
        for s in range(0, len(pairs), self.chunk):
            feats = pair_features(embeddings, pairs[s : s + self.chunk])
            out[s : s + self.chunk] = model.predict_proba(feats)[:, 1]
        return out

    def probabilities(self, ctx: SelectionContext) -> np.ndarray | None:
        """P(similar) per pool pair, or None while the labels cannot train the classifier."""
        model = self.fit(ctx.embeddings, ctx.labelled, ctx.similar)
        return None if model is None else self.predict(model, ctx.embeddings, ctx.pool)

    def score(self, ctx: SelectionContext) -> np.ndarray:
        p = self.probabilities(ctx)
        if p is None:
            ctx.info["classifier"] = "fallback"
            return self.fallback.checked_score(ctx)
        ctx.info["classifier"] = "trained"
        return -np.abs(p - 0.5)
