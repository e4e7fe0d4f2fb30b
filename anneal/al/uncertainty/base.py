"""Abstract uncertainty: subclasses fill `score`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from anneal.al.context import SelectionContext


class Uncertainty(ABC):
    """Scores pool pairs; a higher score means a more uncertain, more informative pair."""

    name: str = "uncertainty"

    @abstractmethod
    def score(self, ctx: SelectionContext) -> np.ndarray:
        """One score per pair of `ctx.pool`."""
