"""No uncertainty: random scores, for the random and diversity-only baselines."""

from __future__ import annotations

import numpy as np

from anneal.al.context import SelectionContext
from anneal.al.uncertainty.base import Uncertainty


class RandomUncertainty(Uncertainty):
    """Every pair equally informative; random scores break the tie uniformly."""

    name = "random"

    def score(self, ctx: SelectionContext) -> np.ndarray:
        return ctx.rng.random(len(ctx.pool))
