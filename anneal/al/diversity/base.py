"""Abstract picker: subclasses fill `pick`; callers use `checked_pick`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NoReturn

import numpy as np

from anneal.al.context import SelectionContext
from anneal.errors import PartContractError


class Diversity(ABC):
    """Chooses which scored pool pairs to ask about."""

    name: str = "diversity"

    @abstractmethod
    def pick(self, ctx: SelectionContext, scores: np.ndarray, budget: int) -> np.ndarray:
        """Indices into `ctx.pool` of `budget` distinct pairs."""

    def checked_pick(self, ctx: SelectionContext, scores: np.ndarray, budget: int) -> np.ndarray:
        """`pick`, verified to be `budget` distinct integer indices into the pool (as
        pytorch-metric-learning's miners check their output), so a broken part fails here with
        its name instead of as duplicate, missing or out-of-range questions further on."""
        picked = self.pick(ctx, scores, budget)
        if not isinstance(picked, np.ndarray):
            self._broken(f"returned a {type(picked).__name__}, not a numpy array")
        if not np.issubdtype(picked.dtype, np.integer):
            self._broken(f"returned {picked.dtype} values, not integer indices")
        if picked.shape != (budget,):
            self._broken(f"returned shape {picked.shape} for a budget of {budget} pairs")
        outside = int(np.count_nonzero((picked < 0) | (picked >= len(ctx.pool))))
        if outside:
            self._broken(f"returned {outside} indices outside the pool of {len(ctx.pool)} pairs")
        repeated = budget - len(np.unique(picked))
        if repeated:
            self._broken(f"returned {repeated} repeated indices")
        return picked

    def _broken(self, what: str) -> NoReturn:
        raise PartContractError(
            f"diversity part {self.name!r} ({type(self).__name__}): pick {what}"
        )


def most_uncertain(scores: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the m highest scores; equal scores are ordered at random."""
    m = min(m, len(scores))
    tiebreak = rng.random(len(scores))
    order = np.lexsort((tiebreak, -scores))
    return order[:m]
