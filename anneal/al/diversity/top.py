"""No diversity: the `budget` most uncertain pairs."""

from __future__ import annotations

import numpy as np

from anneal.al.context import SelectionContext
from anneal.al.diversity.base import Diversity, most_uncertain


class TopUncertain(Diversity):
    """Take the highest-scoring pairs."""

    name = "top"

    def pick(self, ctx: SelectionContext, scores: np.ndarray, budget: int) -> np.ndarray:
        return most_uncertain(scores, budget, ctx.rng)
