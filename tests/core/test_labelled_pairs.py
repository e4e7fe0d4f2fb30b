import numpy as np
import pytest

from anneal.al.labelled_pairs import LabelledPairs
from anneal.al.pairs import PairLabel

ROWS = {"a": 0, "b": 1, "c": 2}


def test_answers_become_canonical_rows_in_order():
    known = LabelledPairs.from_answers([("c", "a", True), ("a", "b", False)], ROWS)
    assert known.pairs.tolist() == [[0, 2], [0, 1]]
    assert known.similar.tolist() == [True, False]
    assert known.pairs.dtype == np.int64 and len(known) == 2


def test_self_pairs_and_images_outside_the_archive_are_dropped():
    answers = [("a", "a", True), ("b", "x", False), ("b", "c", False), ("y", "y", True)]
    known = LabelledPairs.from_answers(answers, ROWS)
    assert (known.pairs.tolist(), known.similar.tolist()) == ([[1, 2]], [False])


def test_two_ids_of_one_row_are_a_self_pair():
    known = LabelledPairs.from_answers([("a", "alias-of-a", True)], {"a": 0, "alias-of-a": 0})
    assert known.pairs.shape == (0, 2) and known.similar.shape == (0,)


def test_the_experiments_labels_keep_bits_aligned_with_their_rows():
    labels = [
        PairLabel("a", "a", True, "oracle", 1, 0.0),  # dropped, with its bit
        PairLabel("b", "c", False, "oracle", 1, 0.0),
        PairLabel("a", "c", True, "oracle", 2, 0.0),
    ]
    known = LabelledPairs.from_labels(labels, ROWS)
    assert (known.pairs.tolist(), known.similar.tolist()) == ([[1, 2], [0, 2]], [False, True])


def test_pairs_and_bits_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="2 answers need"):
        LabelledPairs(np.zeros((3, 2), np.int64), np.zeros(2, bool))
