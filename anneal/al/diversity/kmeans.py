"""ANNEAL's diversity step: cluster the most uncertain pairs, take the best of each cluster."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from anneal.al.context import SelectionContext
from anneal.al.diversity.base import Diversity, most_uncertain
from anneal.al.pair_features import pair_features


class KMeansDiversity(Diversity):
    """Take the `multiple * budget` most uncertain pairs, k-means them into `budget` clusters on
    the symmetric pair representation, and pick the most uncertain pair of each cluster."""

    name = "kmeans"

    def __init__(self, multiple: int = 5) -> None:
        if multiple < 1:
            raise ValueError(f"multiple must be >= 1, got {multiple}")
        self.multiple = multiple

    def pick(self, ctx: SelectionContext, scores: np.ndarray, budget: int) -> np.ndarray:
        candidates = most_uncertain(scores, self.multiple * budget, ctx.rng)
        if len(candidates) <= budget:
            return candidates
        feats = pair_features(ctx.embeddings, ctx.pool[candidates])
        clusters = KMeans(
            n_clusters=budget, n_init=1, max_iter=100, random_state=int(ctx.rng.integers(2**31 - 1))
        ).fit_predict(feats)
        chosen: list[int] = []
        for cluster in range(budget):
            members = candidates[clusters == cluster]
            if len(members):
                chosen.append(int(members[np.argmax(scores[members])]))
        if len(chosen) < budget:  # k-means may leave clusters empty on duplicate points
            rest = [int(c) for c in candidates if int(c) not in set(chosen)]
            chosen.extend(rest[: budget - len(chosen)])
        return np.array(chosen, dtype=np.int64)
