"""Uniformly random pairs over the whole archive: what a user without ANNEAL would label.

Unlike PoolBuilder (neighbour pairs plus some random ones, the candidates every strategy,
`random` included, chooses from), this pool ignores the metric space: every unlabelled pair of the
archive is equally likely. With random scores and top-k picking it gives the `uniform` baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anneal.al.pairs import canonical, exclude_pairs, unique_pairs
from anneal.al.pool import PoolBuilder


@dataclass
class UniformPool(PoolBuilder):
    """About N * (neighbours + random_per_image) pairs drawn uniformly from all N(N-1)/2."""

    @classmethod
    def like(cls, pool: PoolBuilder) -> UniformPool:
        """A uniform pool of the same size settings as `pool`."""
        return cls(pool.neighbours, pool.random_per_image, pool.max_pool)

    def build(
        self, embeddings: np.ndarray, labelled: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        n = embeddings.shape[0]
        if n < 2:
            raise ValueError(f"need at least 2 images to form pairs, got {n}")
        total = n * (n - 1) // 2
        size = min(n * (self.neighbours + self.random_per_image), self.max_pool, total)
        if size >= total // 2:  # small archive: every pair, then a uniform subset
            a, b = np.triu_indices(n, 1)
            pool = exclude_pairs(np.stack([a, b], 1).astype(np.int64), labelled, n)
            return pool[np.sort(rng.choice(len(pool), min(size, len(pool)), replace=False))]
        # Large archive: rejection-free draws of two distinct rows, repeats and labelled removed.
        a = rng.integers(n, size=2 * size)
        b = (a + rng.integers(1, n, size=2 * size)) % n
        pool = exclude_pairs(unique_pairs(canonical(np.stack([a, b], 1)), n), labelled, n)
        return pool[:size]
