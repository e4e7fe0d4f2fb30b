"""Classification-based active learning: which images to ask a class label for.

The baseline the ANNEAL paper compares with: a classifier (multinomial logistic regression from
scikit-learn) on the current embeddings of the labelled images; the `budget` unlabelled images
it is least sure about are asked next, by predictive entropy or by the margin between its two
most probable classes. Before two classes have been seen no classifier can be trained and the
images are drawn at random (the cold start every method has).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression

from anneal.errors import ConfigError

#: Scores per row of class probabilities (N, C); higher = more uncertain.
ImageScore = Callable[[np.ndarray], np.ndarray]


def entropy(p: np.ndarray) -> np.ndarray:
    """Predictive entropy -sum p log p (0 log 0 = 0)."""
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=1)


def margin(p: np.ndarray) -> np.ndarray:
    """1 - (p_best - p_second): near 1 when the two most probable classes tie."""
    if p.shape[1] < 2:
        return np.zeros(len(p))
    top = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


CLASS_LABEL_STRATEGIES: dict[str, ImageScore] = {"class-entropy": entropy, "class-margin": margin}


class ClassLabelSelector:
    """Chooses images to label by a classifier's uncertainty, `score` injected."""

    def __init__(self, score: ImageScore, c: float = 1.0) -> None:
        self.score = score
        self.c = c

    def select(
        self,
        embeddings: np.ndarray,
        labelled: np.ndarray,
        classes: np.ndarray,
        budget: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Rows of `budget` unlabelled images; `labelled` rows have class codes `classes`."""
        if budget < 1:
            raise ConfigError(f"budget must be at least 1 image, got {budget}")
        unlabelled = np.setdiff1d(np.arange(len(embeddings)), labelled)
        if budget > len(unlabelled):
            raise ConfigError(
                f"budget {budget} is larger than the {len(unlabelled)} images still without a "
                "class label; lower the budget or the rounds"
            )
        if len(np.unique(classes)) < 2:
            return np.sort(rng.choice(unlabelled, budget, replace=False))
        model = LogisticRegression(C=self.c, max_iter=1000)
        model.fit(embeddings[labelled], classes)
        scores = self.score(model.predict_proba(embeddings[unlabelled]))
        order = np.lexsort((rng.random(len(unlabelled)), -scores))
        return unlabelled[order[:budget]]
