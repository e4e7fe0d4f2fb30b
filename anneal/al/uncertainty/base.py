"""Abstract uncertainty: subclasses fill `score`; callers use `checked_score`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NoReturn

import numpy as np

from anneal.al.context import SelectionContext
from anneal.errors import PartContractError


class Uncertainty(ABC):
    """Scores pool pairs; a higher score means a more uncertain, more informative pair."""

    name: str = "uncertainty"

    @abstractmethod
    def score(self, ctx: SelectionContext) -> np.ndarray:
        """One finite score per pair of `ctx.pool`."""

    def checked_score(self, ctx: SelectionContext) -> np.ndarray:
        """`score`, verified to be one finite real number per pool pair (as
        pytorch-metric-learning's miners check their output), so a broken part fails here with
        its name instead of as a wrong selection further on."""
        scores = self.score(ctx)
        if not isinstance(scores, np.ndarray):
            self._broken(f"returned a {type(scores).__name__}, not a numpy array")
        if scores.shape != (len(ctx.pool),):
            self._broken(f"returned shape {scores.shape} for a pool of {len(ctx.pool)} pairs")
        if not (
            np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)
        ):
            self._broken(f"returned {scores.dtype} values, not real numbers")
        bad = int(np.count_nonzero(~np.isfinite(scores)))
        if bad:
            self._broken(f"returned {bad} non-finite (NaN or infinite) scores")
        return scores

    def _broken(self, what: str) -> NoReturn:
        raise PartContractError(
            f"uncertainty part {self.name!r} ({type(self).__name__}): score {what}"
        )
