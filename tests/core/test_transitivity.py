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
