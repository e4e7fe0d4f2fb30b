import numpy as np

from anneal.al.pool import PoolBuilder


def _embeddings(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_pool_is_canonical_bounded_and_excludes_labelled():
    emb = _embeddings(50)
    labelled = np.array([[0, 1], [2, 3]])
    pool = PoolBuilder(neighbours=3, random_per_image=2).build(
        emb, labelled, np.random.default_rng(0)
    )
    assert (pool[:, 0] < pool[:, 1]).all()
    assert len(np.unique(pool, axis=0)) == len(pool)
    assert len(pool) <= 50 * (3 + 2)
    codes = {tuple(p) for p in pool.tolist()}
    assert (0, 1) not in codes and (2, 3) not in codes


def test_pool_holds_each_images_nearest_neighbour():
    emb = _embeddings(40)
    pool = PoolBuilder(neighbours=1, random_per_image=0).build(
        emb, np.empty((0, 2), np.int64), np.random.default_rng(0)
    )
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    codes = {tuple(p) for p in pool.tolist()}
    for i, j in enumerate(nearest):
        assert (min(i, j), max(i, j)) in codes


def test_approximate_neighbours_for_large_archives_stay_bounded():
    emb = _embeddings(3000, d=16)
    builder = PoolBuilder(neighbours=5, random_per_image=1, exact_limit=1000, cell_size=300)
    pool = builder.build(emb, np.empty((0, 2), np.int64), np.random.default_rng(0))
    assert 3000 <= len(pool) <= 3000 * 6
    # Most approximate neighbour pairs are true near pairs: mean similarity well above random.
    sims = np.sum(emb[pool[:, 0]] * emb[pool[:, 1]], axis=1)
    assert sims.mean() > 0.2


def test_cells_fitted_on_a_sample_keep_neighbours_within_their_tight_cluster():
    # 12 tight, far-apart clusters of 100: cells fitted on 8 sampled images per cell must still
    # put each image's neighbours in its own cluster (the sample holds every cluster).
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 16))
    cluster = np.repeat(np.arange(12), 100)
    emb = centres[cluster] + 0.01 * rng.normal(size=(1200, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    builder = PoolBuilder(neighbours=5, exact_limit=100, cell_size=100, sample_per_cell=8)
    knn = builder.knn(emb.astype(np.float32), np.random.default_rng(0))
    assert knn.shape == (1200, 5)
    assert (cluster[knn] == cluster[:, None]).mean() > 0.99
