"""mAP@k of the archive's embeddings on a held-out query split (labelled archives only).

The split is decided per image from its id and a fixed seed (anneal.data.split), so every round
is measured on the same queries and images added to the workspace later move none of them.
Each query image ranks the rest of the archive (the non-query images) by inner product.
Training labels may include query images (selection runs over the whole archive), so this is a
live indicator of the serving model, not a clean test set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anneal.data.split import stable_split
from anneal.eval.metrics import retrieval_metrics

KS = (10, 20, 100)


class Evaluator:
    """Evaluates embeddings of the workspace rows against their class names."""

    def __init__(
        self,
        ids: Sequence[str],
        classes: Sequence[str],
        query_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        index = {name: i for i, name in enumerate(sorted(set(classes)))}
        self._labels = np.array([index[c] for c in classes], dtype=np.int64)
        split = stable_split(ids, query_fraction, seed)
        self._queries, self._archive = split.queries, split.archive

    def evaluate(self, embeddings: np.ndarray) -> dict[str, float]:
        """{"map@10": ..., "map@20": ..., "map@100": ...}."""
        found = retrieval_metrics(
            embeddings[self._queries],
            embeddings[self._archive],
            self._labels[self._queries],
            self._labels[self._archive],
            ks=KS,
        )
        return {key: float(value) for key, value in found.items() if key.startswith("map@")}
