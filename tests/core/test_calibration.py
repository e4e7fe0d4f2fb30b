"""ECE by hand, and calibration of a deliberately miscalibrated pair classifier."""

import numpy as np
import pytest

from anneal.al.calibration import expected_calibration_error, fit_pair_classifier
from anneal.errors import ConfigError


def test_ece_zero_when_each_bin_hits_its_rate():
    p = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(p, y) == pytest.approx(0.0)


def test_ece_near_one_when_confident_and_wrong():
    p = np.array([0.99] * 5 + [0.01] * 5)
    y = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(p, y) == pytest.approx(0.99)


def test_ece_hand_example_and_edge_probabilities():
    # Bin [0.1, 0.2): rate 0.5 vs 0.1; bin [0.9, 1.0]: rate 1 vs 0.95 (p = 1.0 lands there).
    p = np.array([0.1, 0.1, 0.9, 1.0])
    y = np.array([0, 1, 1, 1])
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.05)


def _imbalanced(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """10% positives, overlapping 1-D classes: the class-balanced fit over-predicts positives."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.1
    x = rng.normal(np.where(y, 1.0, -1.0), 1.0)[:, None]
    return x, y


def test_calibration_lowers_ece_of_the_balanced_classifier():
    x, y = _imbalanced(3000, 0)
    x_test, y_test = _imbalanced(3000, 1)
    ece = {
        method: expected_calibration_error(
            fit_pair_classifier(x, y, calibration=method).predict_proba(x_test)[:, 1], y_test
        )
        for method in ("none", "temperature", "sigmoid", "isotonic")
    }
    assert ece["none"] > 0.15
    assert ece["sigmoid"] < 0.05 and ece["isotonic"] < 0.05


def test_temperature_keeps_the_uncertainty_ranking_sigmoid_moves_the_crossing():
    x, y = _imbalanced(600, 2)
    grid = np.linspace(-3, 3, 61)[:, None]
    p = {
        m: fit_pair_classifier(x, y, calibration=m).predict_proba(grid)[:, 1]
        for m in ("none", "temperature", "sigmoid")
    }
    assert (
        np.argsort(np.abs(p["none"] - 0.5), kind="stable")
        == np.argsort(np.abs(p["temperature"] - 0.5), kind="stable")
    ).all()
    assert (p["none"] > 0.5).sum() > (p["sigmoid"] > 0.5).sum()


def test_unknown_calibration():
    with pytest.raises(ConfigError, match="unknown calibration 'platt'"):
        fit_pair_classifier(np.zeros((4, 1)), np.array([0, 1, 0, 1], bool), calibration="platt")
