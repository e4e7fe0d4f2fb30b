import numpy as np

from anneal.al.class_labels import ClassLabelSelector, entropy, margin
from anneal.al.pairs import pair_codes
from anneal.al.pool import PoolBuilder
from anneal.al.strategies import make_selector
from anneal.al.uniform_pool import UniformPool

# Two tight clusters far apart: rows 0-2 near +x, rows 3-5 near -x.
EMB = np.array([[1, 0.01], [1, 0.02], [1, 0.03], [-1, 0.01], [-1, 0.02], [-1, 0.03]], float)
EMB /= np.linalg.norm(EMB, axis=1, keepdims=True)
NONE = np.empty((0, 2), np.int64)


def _picked(strategy: str, draws: int) -> np.ndarray:
    selector = make_selector(strategy, PoolBuilder(neighbours=1, random_per_image=0))
    picks = [
        selector.select(EMB, NONE, np.empty(0, bool), 1, np.random.default_rng(s)).pairs[0]
        for s in range(draws)
    ]
    return np.array(picks)


def test_uniform_draws_from_the_whole_archive_random_from_the_pool():
    # With one neighbour and no random pairs the candidate pool holds only within-cluster
    # pairs, so `random` never crosses the clusters; `uniform` draws each of the 15 pairs
    # alike, 9 of which cross (expected share 0.6).
    crosses = lambda p: (p[:, 0] < 3) != (p[:, 1] < 3)  # noqa: E731
    assert not crosses(_picked("random", 50)).any()
    uniform = _picked("uniform", 600)
    assert len(np.unique(pair_codes(uniform, 6))) == 15
    assert 0.52 < crosses(uniform).mean() < 0.68


def test_uniform_pool_skips_labelled_pairs():
    labelled = np.array([[0, 1], [2, 5]])
    pool = UniformPool(neighbours=5, random_per_image=0).build(
        EMB, labelled, np.random.default_rng(0)
    )
    assert len(pool) == 13 and not np.isin(pair_codes(pool, 6), pair_codes(labelled, 6)).any()


def test_class_label_selector_asks_the_image_between_classes():
    emb = np.array([[1.0, 0], [0.9, 0.1], [-1, 0], [-0.9, 0.1], [0.0, 0.05], [3, 0], [-3, 0]])
    labelled, classes = np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1])
    for score in (entropy, margin):
        picked = ClassLabelSelector(score).select(
            emb, labelled, classes, 1, np.random.default_rng(0)
        )
        assert picked.tolist() == [4]
    # One class seen so far: no classifier yet, a random unlabelled image.
    cold = ClassLabelSelector(entropy).select(
        emb, np.array([0]), np.array([0]), 3, np.random.default_rng(0)
    )
    assert len(set(cold.tolist())) == 3 and 0 not in cold


def test_entropy_and_margin_by_hand():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])
    assert np.allclose(
        entropy(p), [np.log(2), 0.0, -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1))]
    )
    assert np.allclose(margin(p), [1.0, 0.0, 0.7])
