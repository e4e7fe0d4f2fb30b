import numpy as np

from anneal.al.context import SelectionContext
from anneal.al.diversity.kmeans import KMeansDiversity
from anneal.al.diversity.top import TopUncertain


def _ctx() -> SelectionContext:
    # Three well-separated groups of pairs: pairs of points near (0,0), (10,0) and (0,10).
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    emb = np.concatenate([c + rng.normal(0, 0.05, (8, 2)) for c in centres])
    pool = np.array([[g * 8 + i, g * 8 + i + 4] for g in range(3) for i in range(4)])
    return SelectionContext(
        emb, pool, np.empty((0, 2), np.int64), np.empty(0, bool), np.random.default_rng(0)
    )


def test_kmeans_picks_one_per_cluster_most_uncertain():
    ctx = _ctx()
    scores = np.arange(12, dtype=float)  # the last pair of each group scores highest in it
    picked = KMeansDiversity(multiple=4).pick(ctx, scores, 3)
    assert sorted(picked.tolist()) == [3, 7, 11]


def test_top_uncertain_ignores_diversity():
    ctx = _ctx()
    scores = np.arange(12, dtype=float)
    assert sorted(TopUncertain().pick(ctx, scores, 3).tolist()) == [9, 10, 11]
