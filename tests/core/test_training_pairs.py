"""A round's training set: the answers first, then a balanced sample of what they imply."""

import numpy as np
import pytest

from anneal.al.pseudo_labels import PseudoLabeller
from anneal.al.training_pairs import TrainingPairs


def _two_chains() -> tuple[np.ndarray, np.ndarray]:
    # 0~1~2~3~4 and 5~6~7~8~9, one dissimilar answer 4-5: 12 implied similar, 24 dissimilar.
    chain = [[i, i + 1] for i in range(4)] + [[i, i + 1] for i in range(5, 9)]
    return np.array([*chain, [4, 5]]), np.array([True] * 8 + [False])


def test_answers_come_first_and_the_implied_sample_is_balanced():
    pairs, similar = _two_chains()
    chosen = TrainingPairs(transitivity=True, implied_pairs=10).compose(
        10, pairs, similar, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(chosen.pairs[:9], pairs)
    np.testing.assert_array_equal(chosen.similar[:9], similar)
    assert (chosen.implied, chosen.pseudo, chosen.not_asked) == (10, 0, 10)
    assert chosen.similar[9:].sum() == 5
    # Implied pairs are right: same chain = similar.
    implied = chosen.pairs[9:]
    np.testing.assert_array_equal((implied[:, 0] < 5) == (implied[:, 1] < 5), chosen.similar[9:])


def test_whole_closure_when_unsampled_and_nothing_when_off():
    pairs, similar = _two_chains()
    rng = np.random.default_rng(0)
    assert TrainingPairs(transitivity=True).compose(10, pairs, similar, rng).implied == 36
    off = TrainingPairs().compose(10, pairs, similar, rng)
    assert off.not_asked == 0 and len(off.pairs) == 9


def test_pseudo_labels_need_the_embeddings():
    pairs, similar = _two_chains()
    with pytest.raises(ValueError, match="embeddings"):
        TrainingPairs(pseudo=PseudoLabeller(4)).compose(
            10, pairs, similar, np.random.default_rng(0)
        )
