"""Candidate pool: each image's nearest neighbours plus uniformly random pairs.

Neighbour pairs are where similar/dissimilar confusions live; random pairs keep the pool from
seeing only one side. The pool is bounded (about N * (neighbours + random_per_image) pairs) and
built in near-linear time: exact neighbours in blocks up to `exact_limit` images, beyond that
neighbours within k-means cells (an approximation: a neighbour across a cell border is missed).
The cells are fitted on a sample of `sample_per_cell` images per cell and every image is then
assigned to its nearest cell: fitting mini-batch k-means on all of a million images took most
of a round's selection time, and cells only need to be roughly right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from anneal.al.pairs import canonical, exclude_pairs, unique_pairs


def _knn_exact(embeddings: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    n = embeddings.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        scores = embeddings[start : start + block] @ embeddings.T
        rows = np.arange(start, min(start + block, n))
        scores[rows - start, rows] = -np.inf
        out[rows] = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return out


@dataclass
class PoolBuilder:
    """Builds the candidate pairs for one round."""

    neighbours: int = 10
    random_per_image: int = 5
    max_pool: int = 1_000_000
    exact_limit: int = 20_000
    cell_size: int = 1_000
    sample_per_cell: int = 64

    def knn(self, embeddings: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, k) approximate nearest-neighbour rows (inner product on normalised vectors)."""
        n = embeddings.shape[0]
        if n <= self.exact_limit:
            return _knn_exact(embeddings, self.neighbours)
        n_cells = max(2, n // self.cell_size)
        sample = np.sort(rng.choice(n, min(n, n_cells * self.sample_per_cell), replace=False))
        cells = (
            MiniBatchKMeans(
                n_clusters=n_cells,
                batch_size=4096,
                n_init=1,
                max_iter=20,
                random_state=int(rng.integers(2**31 - 1)),
            )
            .fit(embeddings[sample])
            .predict(embeddings)
        )
        out = np.empty((n, self.neighbours), dtype=np.int64)
        for cell in np.unique(cells):
            members = np.flatnonzero(cells == cell)
            if len(members) < 2:
                out[members] = rng.integers(n, size=(len(members), self.neighbours))
                continue
            local = _knn_exact(embeddings[members], self.neighbours)
            local_rows = members[local]
            if local_rows.shape[1] < self.neighbours:  # tiny cell: pad with random rows
                pad = rng.integers(n, size=(len(members), self.neighbours - local_rows.shape[1]))
                local_rows = np.concatenate([local_rows, pad], axis=1)
            out[members] = local_rows
        return out

    def build(
        self, embeddings: np.ndarray, labelled: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Canonical candidate pairs without the already labelled ones."""
        n = embeddings.shape[0]
        if n < 2:
            raise ValueError(f"need at least 2 images to form pairs, got {n}")
        rows = np.arange(n)
        neighbours = self.knn(embeddings, rng)
        knn_pairs = np.stack([np.repeat(rows, neighbours.shape[1]), neighbours.ravel()], axis=1)
        random_pairs = np.stack(
            [
                np.repeat(rows, self.random_per_image),
                rng.integers(n, size=n * self.random_per_image),
            ],
            axis=1,
        )
        pool = unique_pairs(np.concatenate([knn_pairs, canonical(random_pairs)]), n)
        pool = exclude_pairs(pool, labelled, n)
        if len(pool) > self.max_pool:
            pool = pool[np.sort(rng.choice(len(pool), self.max_pool, replace=False))]
        return pool
