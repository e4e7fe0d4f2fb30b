"""MGUE: margin-based uncertainty around the estimated similar/dissimilar distance threshold."""

from __future__ import annotations

import numpy as np

from anneal.al.context import SelectionContext
from anneal.al.threshold import pair_distances, threshold_from_labels, threshold_from_mixture
from anneal.al.uncertainty.base import Uncertainty


class MarginUncertainty(Uncertainty):
    """A pair is the more uncertain the closer its distance is to the threshold T.

    T comes from the labelled pairs when both answers occur among them; before that (round 0)
    from a two-component mixture of the pool's distances.
    """

    name = "mgue"

    def threshold(self, ctx: SelectionContext, pool_distances: np.ndarray) -> float:
        if ctx.similar.any() and not ctx.similar.all():
            ctx.info["threshold_source"] = "labels"
            return threshold_from_labels(pair_distances(ctx.embeddings, ctx.labelled), ctx.similar)
        ctx.info["threshold_source"] = "mixture"
        return threshold_from_mixture(pool_distances, seed=int(ctx.rng.integers(2**31 - 1)))

    def score(self, ctx: SelectionContext) -> np.ndarray:
        distances = pair_distances(ctx.embeddings, ctx.pool)
        t = self.threshold(ctx, distances)
        ctx.info["threshold"] = t
        return -np.abs(distances - t)
