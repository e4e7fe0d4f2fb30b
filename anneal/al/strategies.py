"""Named selection strategies: ANNEAL (MGUE or BCGUE with diversity), the ablations and the
random baselines (`random` from the candidate pool, `uniform` over the whole archive)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from anneal.al.diversity.base import Diversity
from anneal.al.diversity.kmeans import KMeansDiversity
from anneal.al.diversity.top import TopUncertain
from anneal.al.pool import PoolBuilder
from anneal.al.selector import PairSelector
from anneal.al.uncertainty.base import Uncertainty
from anneal.al.uncertainty.classifier import ClassifierUncertainty
from anneal.al.uncertainty.margin import MarginUncertainty
from anneal.al.uncertainty.random import RandomUncertainty
from anneal.al.uniform_pool import UniformPool
from anneal.errors import ConfigError
from anneal.shown import shown

_Parts = Callable[[int], tuple[Uncertainty, Diversity]]

#: Answers of each kind BCGUE's classifier needs before it ranks pairs (MGUE ranks until then):
#: a classifier on 1,280-d pair features from a handful of answers ranked worse than the
#: threshold did at budget 20 (docs/BENCHMARKS.md, issue 10, "A strong start").
BCGUE_MIN_PER_CLASS = 10


def _bcgue() -> ClassifierUncertainty:
    return ClassifierUncertainty(MarginUncertainty(), min_per_class=BCGUE_MIN_PER_CLASS)


STRATEGIES: dict[str, _Parts] = {
    "mgue": lambda m: (MarginUncertainty(), KMeansDiversity(m)),
    "bcgue": lambda m: (_bcgue(), KMeansDiversity(m)),
    "mgue-only": lambda m: (MarginUncertainty(), TopUncertain()),
    "bcgue-only": lambda m: (_bcgue(), TopUncertain()),
    "diversity-only": lambda m: (RandomUncertainty(), KMeansDiversity(m)),
    "random": lambda m: (RandomUncertainty(), TopUncertain()),
    "uniform": lambda m: (RandomUncertainty(), TopUncertain()),
}

#: The random baselines: what a user labels without ANNEAL (from the pool, or over the archive).
PAIR_BASELINES = ("random", "uniform")

#: Strategies that draw their candidates from another pool than the neighbour pool.
POOLS: dict[str, Callable[[PoolBuilder], PoolBuilder]] = {"uniform": UniformPool.like}


def check_strategy(name: str, known: Collection[str] = STRATEGIES) -> None:
    """ConfigError naming ``name`` and the ``known`` strategies unless it is one of them (the
    experiments also know the class-label baselines)."""
    if name not in known:
        raise ConfigError(f"unknown strategy {shown(name)}; choose from {', '.join(known)}")


def make_selector(
    name: str,
    pool: PoolBuilder | None = None,
    diversity_multiple: int = 5,
    calibration: str = "none",
) -> PairSelector:
    """The selector for a strategy name; ConfigError lists the known names.

    `calibration` applies to the BCGUE classifier of the strategies that use one.
    """
    check_strategy(name)
    uncertainty, diversity = STRATEGIES[name](diversity_multiple)
    if isinstance(uncertainty, ClassifierUncertainty):
        uncertainty.calibration = calibration
    pool = pool or PoolBuilder()
    return PairSelector(uncertainty, diversity, POOLS.get(name, lambda p: p)(pool))
