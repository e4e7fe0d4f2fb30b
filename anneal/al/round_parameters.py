"""What a round of pair selection is run with: the strategy, the budget and the seed.

The one definition the experiments (anneal/experiment), the selection service and the
coordinator share, and the one place a strategy name and a budget are checked: building a
:class:`RoundParameters` from bad values raises a ConfigError (a ValueError, which the services
answer with INVALID_ARGUMENT) naming the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anneal.al.strategies import check_strategy
from anneal.errors import ConfigError

#: The most pairs one round asks; a round's pairs are registered and listed in one message.
MAX_BUDGET = 10_000


def check_budget(budget: int) -> None:
    """ConfigError unless ``budget`` is a number of pairs a round can ask (1..MAX_BUDGET)."""
    if not 1 <= budget <= MAX_BUDGET:
        raise ConfigError(f"budget must be at least 1 and at most {MAX_BUDGET} pairs, got {budget}")


def round_generator(seed: int, round_key: int) -> np.random.Generator:
    """The random generator of one round: seeded by (seed, round), so the same arguments give
    the same pairs and a resumed run draws what an unbroken one would."""
    return np.random.default_rng([seed, round_key])


@dataclass(frozen=True)
class RoundParameters:
    """A pair-selection strategy (anneal/al/strategies.py), the pairs per round and the seed;
    checked when made."""

    strategy: str
    budget: int
    seed: int

    def __post_init__(self) -> None:
        check_strategy(self.strategy)
        check_budget(self.budget)
        if self.seed < 0:
            raise ConfigError(f"seed must be 0 or more, got {self.seed}")

    def generator(self, round_number: int) -> np.random.Generator:
        """The generator of round ``round_number`` (:func:`round_generator`)."""
        return round_generator(self.seed, round_number)
