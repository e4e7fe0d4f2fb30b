"""Pseudo-labels: confident pool pairs, never an asked pair, half of each kind."""

import numpy as np

from anneal.al.pool import PoolBuilder
from anneal.al.pseudo_labels import PseudoLabeller


def _two_tight_groups() -> np.ndarray:
    # Ten points near (1, 0) and ten near (0, 1): within a group similar, across dissimilar.
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0.0]) + 0.05 * rng.standard_normal((10, 2))
    b = np.array([0.0, 1.0]) + 0.05 * rng.standard_normal((10, 2))
    x = np.concatenate([a, b])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_pseudo_labels_are_right_on_separable_groups_and_skip_asked_pairs():
    x = _two_tight_groups()
    labelled = np.array([[0, 1], [2, 3], [10, 11], [12, 13], [0, 10], [1, 11], [2, 12]])
    similar = np.array([True, True, True, True, False, False, False])
    # A regularised classifier on seven answers: P(similar) 0.74-0.75 within, 0.23-0.28 across.
    labeller = PseudoLabeller(8, confidence=0.7, pool=PoolBuilder(neighbours=5))
    pairs, bits = labeller.label(x, labelled, similar, np.random.default_rng(1))
    assert len(pairs) == 8 and bits.sum() == 4
    truth = (pairs[:, 0] < 10) == (pairs[:, 1] < 10)
    np.testing.assert_array_equal(bits, truth)
    asked = {tuple(p) for p in labelled.tolist()}
    assert not asked & {tuple(p) for p in pairs.tolist()}


def test_no_pseudo_labels_before_both_answers_are_seen():
    x = _two_tight_groups()
    labeller = PseudoLabeller(8)
    pairs, bits = labeller.label(
        x, np.array([[0, 1], [2, 3]]), np.array([True, True]), np.random.default_rng(0)
    )
    assert pairs.shape == (0, 2) and bits.shape == (0,)
