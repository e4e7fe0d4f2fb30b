"""Reliability of the BCGUE pair classifier: expected calibration error and calibrated fits.

ECE with B equal-width bins over the predicted probability of the positive class ("similar"):

    ECE = sum_b (n_b / n) * |mean(y in b) - mean(p in b)|

Bin b holds the p in [b/B, (b+1)/B) (the last bin also holds p = 1). This is the binary
"reliability diagram" ECE (Naeini et al. 2015, Guo et al. 2017 use the confidence max(p, 1-p)
instead; over one positive-class probability the two differ only in how the bins fold at 0.5).
We compute it by hand (a few lines of numpy) because scikit-learn has a reliability curve
(`calibration_curve`) but no ECE.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from anneal.errors import ConfigError

#: "none" keeps the class-balanced logistic regression's own probabilities; the others are
#: scikit-learn's CalibratedClassifierCV methods (temperature: one scale of the logit; sigmoid:
#: Platt scaling, a scale and an intercept; isotonic: any monotone map).
CALIBRATIONS = ("none", "temperature", "sigmoid", "isotonic")


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE of probabilities `p` against 0/1 outcomes `y` with `bins` equal-width bins."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.abs(np.bincount(which, y, bins) - np.bincount(which, p, bins))
    return float(gap.sum() / len(p))  # sum_b n_b/n * |sum y/n_b - sum p/n_b|


def fit_pair_classifier(
    features: np.ndarray, similar: np.ndarray, c: float = 1.0, calibration: str = "none"
) -> ClassifierMixin:
    """The BCGUE classifier (class-balanced logistic regression), calibrated if asked.

    Calibration uses CalibratedClassifierCV with `ensemble=False`: the calibration map is fitted
    on out-of-fold predictions (up to 3 stratified folds, no shuffling, so deterministic) and
    applied to one classifier trained on all labels. So "temperature" (a positive scale of the
    logit, crossing kept at 0.5) leaves the |p - 0.5| ranking exactly as it is; "sigmoid" and
    "isotonic" can move the 0.5 crossing and so change it.
    """
    if calibration not in CALIBRATIONS:
        raise ConfigError(
            f"unknown calibration {calibration!r}; choose from {', '.join(CALIBRATIONS)}"
        )
    base = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
    similar = np.asarray(similar, dtype=bool)
    minority = int(min(similar.sum(), (~similar).sum()))
    if calibration == "none" or minority < 2:
        return base.fit(features, similar)
    folds = StratifiedKFold(n_splits=min(3, minority))
    model = CalibratedClassifierCV(base, method=calibration, cv=folds, ensemble=False)
    return model.fit(features, similar)
