"""A noisy annotator: the right answer, flipped with a fixed probability."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anneal.al.annotators.base import Annotator
from anneal.al.annotators.coin import pair_uniforms


class FlipAnnotator(Annotator):
    """Asks `truth` and flips each answer independently with probability `rate`.

    Whether a pair is flipped is a fixed coin of (seed, pair) (:mod:`.coin`): one seed gives
    one annotator; annotators with different seeds err independently.
    """

    def __init__(self, truth: Annotator, rate: float, seed: int, name: str) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"flip rate must be between 0 and 1, got {rate}")
        self.truth, self.rate, self.seed, self.name = truth, rate, seed, name

    def answer(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        right = np.array(self.truth.answer(pairs), dtype=bool)
        flips = pair_uniforms(self.seed, pairs) < self.rate
        return [bool(x) for x in right ^ flips]
