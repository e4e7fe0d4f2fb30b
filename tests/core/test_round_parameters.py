import numpy as np
import pytest

from anneal.al.round_parameters import MAX_BUDGET, RoundParameters, round_generator
from anneal.errors import ConfigError


def test_valid_parameters_are_kept_as_given():
    p = RoundParameters("bcgue", MAX_BUDGET, 7)
    assert (p.strategy, p.budget, p.seed) == ("bcgue", 10_000, 7)


def test_an_unknown_strategy_is_named_with_the_known_ones():
    with pytest.raises(ConfigError) as info:
        RoundParameters("best", 10, 0)
    message = str(info.value)
    assert message.startswith("unknown strategy 'best'; choose from mgue, bcgue")
    assert "uniform" in message


def test_a_huge_strategy_name_is_quoted_with_a_bound():
    with pytest.raises(ValueError, match=r"'x{64}'…\(5000 chars\)") as info:
        RoundParameters("x" * 5000, 10, 0)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("budget", [0, -1, MAX_BUDGET + 1])
def test_a_budget_outside_one_to_the_maximum_is_refused(budget: int):
    with pytest.raises(ValueError, match=f"at least 1 and at most 10000 pairs, got {budget}$"):
        RoundParameters("mgue", budget, 0)


def test_a_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed must be 0 or more, got -1"):
        RoundParameters("mgue", 5, -1)


def test_a_rounds_generator_depends_on_seed_and_round_only():
    p = RoundParameters("random", 5, 3)
    draw = p.generator(2).integers(0, 1 << 30, 4)
    assert draw.tolist() == np.random.default_rng([3, 2]).integers(0, 1 << 30, 4).tolist()
    assert draw.tolist() == round_generator(3, 2).integers(0, 1 << 30, 4).tolist()
    assert draw.tolist() != p.generator(3).integers(0, 1 << 30, 4).tolist()
