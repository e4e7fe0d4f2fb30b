"""PairSelector: pool -> uncertainty -> diversity, with the parts injected."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from anneal.al.context import SelectionContext
from anneal.al.diversity.base import Diversity
from anneal.al.pool import PoolBuilder
from anneal.al.uncertainty.base import Uncertainty
from anneal.errors import ConfigError


@dataclass
class Selection:
    """The chosen pairs (canonical rows), their scores, and what the step measured."""

    pairs: np.ndarray
    scores: np.ndarray
    pool_size: int
    seconds: dict[str, float] = field(default_factory=dict)
    info: dict[str, float | str] = field(default_factory=dict)


class PairSelector:
    """Selects the `budget` most informative unlabelled pairs of an archive."""

    def __init__(self, uncertainty: Uncertainty, diversity: Diversity, pool: PoolBuilder) -> None:
        self.uncertainty = uncertainty
        self.diversity = diversity
        self.pool = pool

    def select(
        self,
        embeddings: np.ndarray,
        labelled: np.ndarray,
        similar: np.ndarray,
        budget: int,
        rng: np.random.Generator,
    ) -> Selection:
        if budget < 1:
            raise ConfigError(f"budget must be at least 1 pair, got {budget}")
        t0 = time.perf_counter()
        pool = self.pool.build(embeddings, labelled, rng)
        t1 = time.perf_counter()
        if budget > len(pool):
            raise ConfigError(
                f"budget {budget} is larger than the candidate pool ({len(pool)} unlabelled "
                "pairs); lower the budget or enlarge the pool (more neighbours or random pairs)"
            )
        ctx = SelectionContext(embeddings, pool, labelled, similar, rng)
        scores = self.uncertainty.checked_score(ctx)
        picked = self.diversity.checked_pick(ctx, scores, budget)
        t2 = time.perf_counter()
        return Selection(
            pairs=pool[picked],
            scores=scores[picked],
            pool_size=len(pool),
            seconds={"pool": t1 - t0, "selection": t2 - t1},
            info=ctx.info,
        )
