"""Per-round stopping and calibration signals of one active-learning run (no held-out labels).

Computed after a round has trained, from the embeddings before and after it and the answers:

- `topk_agreement`: mean Jaccard overlap of each archive image's k nearest neighbours under the
  previous and the current model (anneal/al/stopping.py).
- `label_threshold`, `threshold_change`: MGUE's label threshold (anneal/al/threshold.py) on all
  answers in the current space, and how far it moved from the previous round's (previous space,
  answers before this round): the threshold MGUE would select with next round vs this round.
- `classifier_confidence`: mean max(p, 1 - p) of the BCGUE classifier (trained on all answers,
  current space) over the archive's k-NN pairs, the pairs that decide retrieval.
- `ece_new_pairs`: expected calibration error (anneal/al/calibration.py) of the BCGUE classifier
  of the previous round (answers before this round, previous space) on this round's answers.
  They are the only labelled pairs that neither that classifier nor the embedding model had seen,
  and they are drawn the way the strategy draws (for BCGUE, where P(similar) was closest to 0.5,
  exactly where its calibration decides the ranking). `ece_new_pairs_uncalibrated` is added when
  a calibration is configured, to compare the two on the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anneal.al.calibration import expected_calibration_error
from anneal.al.stopping import nearest_neighbours, neighbour_agreement
from anneal.al.threshold import pair_distances, threshold_from_labels
from anneal.al.uncertainty.classifier import ClassifierUncertainty


@dataclass(frozen=True)
class RoundAnswers:
    """The labelled pairs (archive rows) before a round and the ones the round added."""

    before: np.ndarray
    before_similar: np.ndarray
    new: np.ndarray
    new_similar: np.ndarray

    @property
    def all(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.concatenate([self.before, self.new]),
            np.concatenate([self.before_similar, self.new_similar]),
        )


def _threshold(embeddings: np.ndarray, pairs: np.ndarray, similar: np.ndarray) -> float:
    if similar.all() or not similar.any():
        return float("nan")
    return threshold_from_labels(pair_distances(embeddings, pairs), similar)


def _ece(
    classifier: ClassifierUncertainty, embeddings: np.ndarray, answers: RoundAnswers, bins: int
) -> float:
    model = classifier.fit(embeddings, answers.before, answers.before_similar)
    if model is None or len(answers.new) == 0:
        return float("nan")
    p = classifier.predict(model, embeddings, answers.new)
    return expected_calibration_error(p, answers.new_similar, bins)


def round_signals(
    previous: np.ndarray,
    current: np.ndarray,
    answers: RoundAnswers,
    classifier: ClassifierUncertainty,
    k: int,
    bins: int,
) -> dict[str, float]:
    """The signal columns of one round's result row (NaN where a signal is not defined yet)."""
    current_nn = nearest_neighbours(current, k)
    pairs, similar = answers.all
    t_now = _threshold(current, pairs, similar)
    t_before = _threshold(previous, answers.before, answers.before_similar)
    out = {
        "topk_agreement": neighbour_agreement(nearest_neighbours(previous, k), current_nn),
        "label_threshold": t_now,
        "threshold_change": abs(t_now - t_before),
        "classifier_confidence": float("nan"),
        "ece_new_pairs": _ece(classifier, previous, answers, bins),
    }
    model = classifier.fit(current, pairs, similar)
    if model is not None:
        rows = np.repeat(np.arange(len(current)), current_nn.shape[1])
        knn_pairs = np.stack([rows, current_nn.ravel()], axis=1)
        p = classifier.predict(model, current, knn_pairs)
        out["classifier_confidence"] = float(np.maximum(p, 1.0 - p).mean())
    if classifier.calibration != "none":
        plain = ClassifierUncertainty(
            classifier.fallback, classifier.min_per_class, classifier.c, classifier.chunk
        )
        out["ece_new_pairs_uncalibrated"] = _ece(plain, previous, answers, bins)
    return out
