import numpy as np

from anneal.al.context import SelectionContext
from anneal.al.uncertainty.classifier import ClassifierUncertainty
from anneal.al.uncertainty.margin import MarginUncertainty


def _points() -> np.ndarray:
    # Points on a line (unit vectors are not needed for distances to be meaningful here).
    return np.array([[0.0, 0.0], [0.1, 0.0], [0.5, 0.0], [1.0, 0.0], [2.0, 0.0]])


def test_mgue_prefers_pairs_near_threshold():
    emb = _points()
    labelled = np.array([[0, 1], [0, 4]])  # distance 0.1 similar, 2.0 dissimilar -> T = 1.05
    similar = np.array([True, False])
    pool = np.array([[0, 2], [0, 3], [1, 3], [2, 4]])  # distances 0.5, 1.0, 0.9, 1.5
    ctx = SelectionContext(emb, pool, labelled, similar, np.random.default_rng(0))
    scores = MarginUncertainty().score(ctx)
    assert ctx.info["threshold"] == 1.05
    assert np.argsort(-scores).tolist() == [1, 2, 3, 0]


def test_bcgue_most_uncertain_is_between_classes():
    rng = np.random.default_rng(0)
    # Similar pairs: nearly identical vectors; dissimilar: far apart.
    base = rng.normal(size=(40, 4))
    emb = np.concatenate([base, base + 0.01, base + 3.0, base + 1.5])
    labelled = np.array([[i, 40 + i] for i in range(20)] + [[i, 80 + i] for i in range(20)])
    similar = np.array([True] * 20 + [False] * 20)
    pool = np.array([[30, 70], [30, 110], [30, 150]])  # ~0, ~3 and ~1.5 apart
    ctx = SelectionContext(emb, pool, labelled, similar, np.random.default_rng(0))
    scores = ClassifierUncertainty(fallback=MarginUncertainty()).score(ctx)
    assert ctx.info["classifier"] == "trained"
    assert int(np.argmax(scores)) == 2


def test_bcgue_falls_back_without_both_answers():
    emb = _points()
    ctx = SelectionContext(
        emb,
        np.array([[0, 2], [0, 3]]),
        np.array([[0, 1]]),
        np.array([True]),
        np.random.default_rng(0),
    )
    ClassifierUncertainty(fallback=MarginUncertainty()).score(ctx)
    assert ctx.info["classifier"] == "fallback"
    assert ctx.info["threshold_source"] == "mixture"


def test_bcgue_strategy_ranks_by_threshold_until_ten_answers_of_each_kind():
    from anneal.al.strategies import BCGUE_MIN_PER_CLASS, make_selector

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 4))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    infos = []
    for n_similar in (BCGUE_MIN_PER_CLASS - 1, BCGUE_MIN_PER_CLASS):
        labelled = np.array([[i, i + 30] for i in range(2 * BCGUE_MIN_PER_CLASS)])
        similar = np.arange(len(labelled)) < n_similar
        selection = make_selector("bcgue").select(emb, labelled, similar, 5, rng)
        infos.append(selection.info["classifier"])
    assert infos == ["fallback", "trained"]
