import numpy as np

from anneal.al.transitivity import transitive_closure


def as_set(pairs, bits):
    return {(int(a), int(b), bool(s)) for (a, b), s in zip(pairs, bits, strict=True)}


def test_similar_chain_and_dissimilar_spread():
    # 0~1, 1~2 => 0~2.  2 !~ 3 => 0 !~ 3 and 1 !~ 3.
    pairs = np.array([[0, 1], [1, 2], [2, 3]])
    bits = np.array([True, True, False])
    c = transitive_closure(pairs, bits, 5)
    assert as_set(c.pairs, c.similar) == {(0, 2, True), (0, 3, False), (1, 3, False)}
    assert c.contradictions == 0


def test_contradiction_counted_not_spread():
    pairs = np.array([[0, 1], [1, 2], [0, 2]])
    bits = np.array([True, True, False])
    c = transitive_closure(pairs, bits, 3)
    assert c.contradictions == 1
    assert len(c.pairs) == 0  # 0-2 was answered directly, so nothing is implied


def test_sample_keeps_half_of_each_kind_and_only_implied_pairs():
    # Two groups {0..4} and {5..9} with one dissimilar answer between them: 20 implied
    # similar pairs (10 per group, less the 8 answered) and 25 implied dissimilar ones, less one.
    chain = [[i, i + 1] for i in range(4)] + [[i, i + 1] for i in range(5, 9)]
    pairs = np.array([*chain, [4, 5]])
    bits = np.array([True] * 8 + [False])
    closure = transitive_closure(pairs, bits, 10)
    assert (closure.similar.sum(), (~closure.similar).sum()) == (12, 24)
    sample = closure.sample(10, np.random.default_rng(0))
    assert (sample.similar.sum(), (~sample.similar).sum()) == (5, 5)
    assert as_set(sample.pairs, sample.similar) <= as_set(closure.pairs, closure.similar)
    # Fewer similar than half the sample: the rest comes from the dissimilar side.
    assert closure.sample(30, np.random.default_rng(0)).similar.sum() == 12
    assert closure.sample(100, np.random.default_rng(0)) is closure
