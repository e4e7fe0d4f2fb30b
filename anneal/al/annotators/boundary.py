"""A noisy annotator that is unsure near the class boundary: it errs on confusable classes.

Noise model. ``confusion[a, b]`` is how often class ``a`` is taken for class ``b`` (rows sum
to 1; in experiments it comes from the zero-shot model's nearest neighbours, see
:mod:`anneal.experiment.confusion`). A pair of images of classes ``(a, b)`` has unsureness

* ``u(a, b) = (confusion[a, b] + confusion[b, a]) / 2`` when ``a != b`` (two visually close
  classes are easily called the same), and
* ``u(a, a) = 1 - confusion[a, a]`` for two images of one class (a class the model mixes up
  with others is one whose members look unlike each other).

The flip probability is ``min(1/2, s * u(a, b))``, with the scale ``s`` fitted so that the mean
flip probability over all pairs of the archive's images (each class pair weighted by how many
image pairs it has) equals the target rate. The cap: an unsure annotator guesses, it never
answers worse than a coin. (Without it, on UC Merced at a 10% mean rate two images of one class
were called dissimilar 77% of the time, and 67% of the answers MGUE trained on were wrong.)
Pairs an active learner asks lie nearer the boundary than random pairs, so the rate it meets is
usually above the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from anneal.al.annotators.base import Annotator
from anneal.al.annotators.coin import pair_uniforms


def unsureness(confusion: np.ndarray) -> np.ndarray:
    """The symmetric (C, C) unsureness of class pairs defined in the module docstring."""
    c = np.asarray(confusion, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {c.shape}")
    u = (c + c.T) / 2.0
    np.fill_diagonal(u, 1.0 - np.diag(c))
    return np.clip(u, 0.0, 1.0)


#: The most an unsure annotator errs on a pair: a guess.
MAX_FLIP = 0.5


def flip_probabilities(confusion: np.ndarray, counts: np.ndarray, mean_rate: float) -> np.ndarray:
    """(C, C) flip probability per class pair whose pair-weighted mean is `mean_rate`.

    `counts` are the images per class. The scale is found by bisection because the clip at 1
    makes the mean non-linear in it; ValueError when the target cannot be reached under the
    cap of MAX_FLIP per pair.
    """
    if not 0.0 <= mean_rate <= 1.0:
        raise ValueError(f"flip rate must be between 0 and 1, got {mean_rate}")
    u = unsureness(confusion)
    n = np.asarray(counts, dtype=np.float64)
    weights = np.outer(n, n) - np.diag(n)  # ordered image pairs, an image never with itself
    weights = weights / weights.sum()

    def mean(scale: float) -> float:
        return float((np.minimum(MAX_FLIP, scale * u) * weights).sum())

    if mean_rate == 0.0:
        return np.zeros_like(u)
    if mean(1e12) < mean_rate - 1e-9:
        raise ValueError(
            f"a mean flip rate of {mean_rate} cannot be reached: the confusion matrix has too "
            "few confusable class pairs"
        )
    lo, hi = 0.0, 1.0
    while mean(hi) < mean_rate:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if mean(mid) < mean_rate else (lo, mid)
    return np.minimum(MAX_FLIP, hi * u)


class BoundaryAnnotator(Annotator):
    """Right answer from class labels (image id -> class index), flipped with the probability
    `flip[a, b]` of the pair's classes on a fixed coin of (seed, pair) (:mod:`.coin`)."""

    def __init__(
        self,
        classes: Mapping[str, int],
        flip: np.ndarray,
        seed: int,
        name: str,
    ) -> None:
        self.classes, self.flip, self.seed, self.name = dict(classes), np.asarray(flip), seed, name

    def answer(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        for image in (x for pair in pairs for x in pair):
            if image not in self.classes:
                raise KeyError(f"the annotator has no class for image {image!r}")
        a = np.array([self.classes[x] for x, _ in pairs], dtype=np.int64)
        b = np.array([self.classes[y] for _, y in pairs], dtype=np.int64)
        flips = pair_uniforms(self.seed, pairs) < self.flip[a, b]
        return [bool(x) for x in (a == b) ^ flips]
