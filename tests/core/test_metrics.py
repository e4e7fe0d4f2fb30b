import numpy as np
import pytest

from anneal.eval.metrics import (
    average_precision_at_k,
    precision_at_k,
    rank,
    retrieval_metrics,
)


def test_average_precision_hand_example():
    # Relevance of the top 5: 1 0 1 0 0. P@1 = 1, P@3 = 2/3; two relevant retrieved.
    rel = np.array([[True, False, True, False, False]])
    assert average_precision_at_k(rel, 5)[0] == pytest.approx((1 + 2 / 3) / 2)
    # Top 2 only: one relevant retrieved, at rank 1.
    assert average_precision_at_k(rel, 2)[0] == pytest.approx(1.0)
    assert precision_at_k(rel, 5)[0] == pytest.approx(0.4)


def test_no_relevant_retrieved_scores_zero():
    assert average_precision_at_k(np.zeros((1, 4), bool), 4)[0] == 0.0


def test_rank_orders_by_inner_product():
    archive = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    assert rank(np.array([[1.0, 0.1]]), archive, 3).tolist() == [[0, 2, 1]]


def test_retrieval_metrics_end_to_end():
    archive = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1])
    # Query of class 0 nearest to class-0 images, then class 1: AP@2 = 1; AP@4 = 1 too.
    m = retrieval_metrics(
        np.array([[1.0, 0.05]]), archive, np.array([0]), labels, ks=(2, 4), precision_ks=(2, 4)
    )
    assert m == {"map@2": 1.0, "map@4": 1.0, "p@2": 1.0, "p@4": 0.5}
    # A query of class 1 placed near class 0: relevant at ranks 3 and 4.
    m = retrieval_metrics(
        np.array([[1.0, 0.05]]), archive, np.array([1]), labels, ks=(4,), precision_ks=(4,)
    )
    assert m["map@4"] == pytest.approx((1 / 3 + 2 / 4) / 2)
