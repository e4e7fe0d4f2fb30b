import numpy as np
import pytest

from anneal.al.threshold import threshold_from_labels, threshold_from_mixture


def test_threshold_from_labels_separable():
    d = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    s = np.array([True, True, True, False, False, False])
    assert threshold_from_labels(d, s) == pytest.approx(0.6)


def test_threshold_from_labels_unordered_input():
    d = np.array([1.0, 0.2, 0.9, 0.1])
    s = np.array([False, True, False, True])
    assert threshold_from_labels(d, s) == pytest.approx(0.55)


def test_threshold_from_labels_needs_both_answers():
    with pytest.raises(ValueError, match="both similar and dissimilar"):
        threshold_from_labels(np.array([0.1, 0.2]), np.array([True, True]))


def test_threshold_from_mixture_between_modes():
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(0.4, 0.05, 300), rng.normal(1.2, 0.05, 700)])
    t = threshold_from_mixture(d, seed=0)
    assert 0.55 < t < 1.05
