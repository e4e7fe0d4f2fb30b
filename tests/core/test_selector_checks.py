"""The selection base classes refuse what a broken part returns, naming the part and the fault."""

import numpy as np
import pytest

from anneal.al.context import SelectionContext
from anneal.al.diversity.base import Diversity
from anneal.al.diversity.top import TopUncertain
from anneal.al.pool import PoolBuilder
from anneal.al.selector import PairSelector
from anneal.al.uncertainty.base import Uncertainty
from anneal.al.uncertainty.random import RandomUncertainty
from anneal.errors import PartContractError

# Six points on a line; the pool of a test is the 4 pairs below.
POOL = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
EMB = np.eye(6)


def _ctx() -> SelectionContext:
    return SelectionContext(
        EMB, POOL, np.empty((0, 2), np.int64), np.empty(0, bool), np.random.default_rng(0)
    )


class FixedScores(Uncertainty):
    """Returns what it is given, whatever the pool."""

    name = "fixed"

    def __init__(self, scores: object) -> None:
        self.scores = scores

    def score(self, ctx: SelectionContext) -> np.ndarray:
        return self.scores  # type: ignore[return-value]


class FixedPick(Diversity):
    """Returns what it is given, whatever the budget."""

    name = "fixed"

    def __init__(self, picked: object) -> None:
        self.picked = picked

    def pick(self, ctx: SelectionContext, scores: np.ndarray, budget: int) -> np.ndarray:
        return self.picked  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("scores", "fault"),
    [
        ([0.1, 0.2, 0.3, 0.4], "returned a list, not a numpy array"),
        (np.zeros(3), r"returned shape \(3,\) for a pool of 4 pairs"),
        (np.zeros((4, 1)), r"returned shape \(4, 1\) for a pool of 4 pairs"),
        (np.array([True, False, True, False]), "returned bool values, not real numbers"),
        (np.array([0.1, np.nan, 0.3, 0.4]), r"returned 1 non-finite \(NaN or infinite\) scores"),
        (np.array([0.1, np.inf, -np.inf, 0.4]), "returned 2 non-finite"),
    ],
)
def test_broken_scores_are_refused_naming_the_part(scores: object, fault: str) -> None:
    with pytest.raises(
        PartContractError, match=f"uncertainty part 'fixed' \\(FixedScores\\): score {fault}"
    ):
        FixedScores(scores).checked_score(_ctx())


def test_finite_scores_of_the_pool_length_pass_unchanged() -> None:
    scores = np.array([0.4, -1.0, 3.0, 0.0])
    assert FixedScores(scores).checked_score(_ctx()) is scores
    ints = np.array([1, 2, 3, 4])
    assert FixedScores(ints).checked_score(_ctx()) is ints


@pytest.mark.parametrize(
    ("picked", "fault"),
    [
        ([0, 1], "returned a list, not a numpy array"),
        (np.array([0.0, 1.0]), "returned float64 values, not integer indices"),
        (np.array([0]), r"returned shape \(1,\) for a budget of 2 pairs"),
        (np.array([0, 1, 2]), r"returned shape \(3,\) for a budget of 2 pairs"),
        (np.array([0, 4]), "returned 1 indices outside the pool of 4 pairs"),
        (np.array([-1, 2]), "returned 1 indices outside the pool of 4 pairs"),
        (np.array([3, 3]), "returned 1 repeated indices"),
    ],
)
def test_broken_picks_are_refused_naming_the_part(picked: object, fault: str) -> None:
    with pytest.raises(
        PartContractError, match=f"diversity part 'fixed' \\(FixedPick\\): pick {fault}"
    ):
        FixedPick(picked).checked_pick(_ctx(), np.zeros(4), 2)


def test_distinct_in_range_picks_pass_unchanged() -> None:
    picked = np.array([3, 0])
    assert FixedPick(picked).checked_pick(_ctx(), np.zeros(4), 2) is picked


def test_the_selector_checks_both_parts() -> None:
    # 6 one-hot images: 15 pairs, all in the pool (5 neighbours each, no random pairs).
    pool = PoolBuilder(neighbours=5, random_per_image=0)
    none, no = np.empty((0, 2), np.int64), np.empty(0, bool)
    rng = np.random.default_rng(0)
    good = PairSelector(RandomUncertainty(), TopUncertain(), pool).select(EMB, none, no, 2, rng)
    assert len(good.pairs) == 2
    bad_scores = PairSelector(FixedScores(np.zeros(2)), TopUncertain(), pool)
    with pytest.raises(PartContractError, match="uncertainty part 'fixed'"):
        bad_scores.select(EMB, none, no, 2, rng)
    bad_pick = PairSelector(RandomUncertainty(), FixedPick(np.array([1, 1])), pool)
    with pytest.raises(PartContractError, match="diversity part 'fixed'"):
        bad_pick.select(EMB, none, no, 2, rng)
