"""Abstract picker: subclasses fill `pick`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from anneal.al.context import SelectionContext


class Diversity(ABC):
    """Chooses which scored pool pairs to ask about."""

    name: str = "diversity"

    @abstractmethod
    def pick(self, ctx: SelectionContext, scores: np.ndarray, budget: int) -> np.ndarray:
        """Indices into `ctx.pool` of `budget` distinct pairs."""


def most_uncertain(scores: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the m highest scores; equal scores are ordered at random."""
    m = min(m, len(scores))
    tiebreak = rng.random(len(scores))
    order = np.lexsort((tiebreak, -scores))
    return order[:m]
