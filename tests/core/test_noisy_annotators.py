"""Simulated noisy annotators, panels resolved by majority, and re-asking suspect answers."""

from collections.abc import Sequence

import numpy as np
import pytest

from anneal.al.annotators.base import Annotator
from anneal.al.annotators.boundary import BoundaryAnnotator, flip_probabilities, unsureness
from anneal.al.annotators.flip import FlipAnnotator
from anneal.al.annotators.panel import AnnotatorPanel
from anneal.al.annotators.simulated import SimulatedOracle
from anneal.al.asking.recheck import Recheck, suspects
from anneal.al.resolution import MajorityVote
from anneal.experiment.confusion import neighbour_confusion


class Scripted(Annotator):
    """Answers from a table and remembers what it was asked."""

    def __init__(self, table: dict[tuple[str, str], bool], name: str = "scripted") -> None:
        self.table, self.name, self.asked = table, name, []

    def answer(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        self.asked.extend(pairs)
        return [self.table[p] for p in pairs]


def _two_class_pairs(n: int) -> tuple[SimulatedOracle, list[tuple[str, str]]]:
    classes = {f"i{k}": str(k % 2) for k in range(2 * n)}
    return SimulatedOracle(classes), [(f"i{k}", f"i{k + 1}") for k in range(0, 2 * n, 2)] + [
        (f"i{k}", f"i{k + 2}") for k in range(0, 2 * n - 2, 2)
    ]


def test_flip_rate_within_one_point_on_ten_thousand_answers():
    oracle, pairs = _two_class_pairs(5_000)
    pairs = pairs[:10_000]
    truth = np.array(oracle.answer(pairs))
    noisy = np.array(FlipAnnotator(oracle, 0.1, seed=7, name="n").answer(pairs))
    # Binomial sd is 0.3%, so +-1 point is over 3 sd: a correct 10% annotator lands inside.
    assert abs((noisy != truth).mean() - 0.1) <= 0.01
    assert (np.array(FlipAnnotator(oracle, 0.0, seed=7, name="n").answer(pairs)) == truth).all()


def test_two_seeds_err_independently_and_one_seed_repeats_itself():
    oracle, pairs = _two_class_pairs(5_000)
    a = np.array(FlipAnnotator(oracle, 0.1, seed=1, name="a").answer(pairs))
    b = np.array(FlipAnnotator(oracle, 0.1, seed=2, name="b").answer(pairs))
    again = np.array(FlipAnnotator(oracle, 0.1, seed=1, name="a").answer(pairs[::-1]))[::-1]
    # Independent 10% annotators disagree on 2 * 0.1 * 0.9 = 18% of pairs.
    assert abs((a != b).mean() - 0.18) <= 0.02
    assert (a == again).all()


# Classes 0 and 1 are confused 30% of the time each way; class 2 never.
CONFUSION = np.array([[0.7, 0.3, 0.0], [0.3, 0.7, 0.0], [0.0, 0.0, 1.0]])


def test_boundary_flip_probabilities_on_a_hand_confusion_matrix():
    u = unsureness(CONFUSION)
    assert u == pytest.approx(np.array([[0.3, 0.3, 0.0], [0.3, 0.3, 0.0], [0.0, 0.0, 0.0]]))
    # 10 images per class: 90 ordered same-class pairs per class, 100 per pair of classes.
    # Mean = s * (0.3 * 90 * 2 + 0.3 * 100 * 2) / 870 = s * 114 / 870 = 0.1.
    flip = flip_probabilities(CONFUSION, np.array([10, 10, 10]), 0.1)
    assert flip[0, 1] == pytest.approx(0.3 * 0.1 * 870 / 114, rel=1e-6)
    assert flip[0, 2] == 0.0 and flip[2, 2] == 0.0


def test_boundary_annotator_flips_confusable_pairs_only():
    flip = flip_probabilities(CONFUSION, np.array([10, 10, 10]), 0.1)
    classes = {f"a{k}": 0 for k in range(3000)} | {f"b{k}": 1 for k in range(3000)}
    classes |= {f"c{k}": 2 for k in range(3000)}
    annotator = BoundaryAnnotator(classes, flip, seed=3, name="boundary")
    close = [(f"a{k}", f"b{k}") for k in range(3000)]
    far = [(f"a{k}", f"c{k}") for k in range(3000)]
    close_wrong = np.mean(annotator.answer(close))  # the truth is dissimilar
    assert abs(close_wrong - flip[0, 1]) <= 0.03
    assert not any(annotator.answer(far))


def test_neighbour_confusion_of_two_touching_classes():
    # 1-D points: class 0 at 0, 1, 2; class 1 at 2.5, 10, 11. k = 1: the nearest other point.
    points = np.array([[0.0], [1.0], [2.0], [2.5], [10.0], [11.0]])
    confusion = neighbour_confusion(points, np.array([0, 0, 0, 1, 1, 1]), k=1, smoothing=0.0)
    # Class 0: 0->1, 1->0 or 2 (both class 0), 2->2.5 (class 1).
    # Class 1: 2.5->2 (class 0), 10->11, 11->10.
    assert confusion == pytest.approx(np.array([[2 / 3, 1 / 3], [1 / 3, 2 / 3]]))
    # One pseudo-neighbour per cell: class 0 has 2 + 1 within and 1 + 1 across, of 5.
    smoothed = neighbour_confusion(points, np.array([0, 0, 0, 1, 1, 1]), k=1)
    assert smoothed == pytest.approx(np.array([[3 / 5, 2 / 5], [2 / 5, 3 / 5]]))


def test_panel_of_three_resolves_by_majority_and_a_tie_by_the_first():
    pairs = [("x", "y"), ("x", "z"), ("y", "z")]
    a = Scripted(dict(zip(pairs, [True, False, True], strict=True)), "a")
    b = Scripted(dict(zip(pairs, [False, False, True], strict=True)), "b")
    c = Scripted(dict(zip(pairs, [True, True, False], strict=True)), "c")
    assert AnnotatorPanel([a, b, c], MajorityVote()).answer(pairs) == [True, False, True]
    assert AnnotatorPanel([b, c], MajorityVote()).answer(pairs) == [False, False, True]


def test_suspects_are_contradicted_answers_most_confident_first():
    distances = np.array([0.2, 0.9, 0.5, 1.5, 0.1])
    answers = np.array([False, False, True, True, True])
    # Threshold 0.8 predicts similar, dissimilar, similar, dissimilar, similar: rows 0 and 3
    # are contradicted, with margins 0.6 and 0.7.
    assert suspects(distances, answers, 0.8).tolist() == [3, 0]


# Points on a line, so a pair (0, k) is at distance X[k].
X = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 5.0, 5.3, 6.0, 6.5])[:, None]
EARLIER = np.array([[0, 2], [0, 3], [0, 6], [0, 7]]), np.array([True, True, False, False])
ROWS = np.array([[0, 4], [0, 5], [0, 1], [0, 8], [0, 9]])
QUESTIONS = [(f"p{a}", f"p{b}") for a, b in ROWS]
# First answers: right, right, wrong (0.05 said dissimilar), right, wrong (6.5 said similar).
FIRST = dict(zip(QUESTIONS, [True, True, False, False, True], strict=True))


def _recheck(second: dict, third: dict) -> tuple[Recheck, Scripted, Scripted]:
    s, t = Scripted(second, "second"), Scripted(third, "third")
    # Budget 7, fraction 0.3: 2 answers held back for re-asking, 5 new pairs.
    return Recheck(Scripted(FIRST, "first"), s, t, 0.3, MajorityVote()), s, t


def test_recheck_asks_the_most_confident_contradiction_and_a_third_on_disagreement():
    # The labels put the cut at (0.4 + 5.0) / 2 = 2.7: suspects are p0-p9 (margin 3.8), then
    # p0-p1 (2.65). The second annotator disagrees on p0-p9, so the third is asked; that
    # spends the 2 held-back answers, and p0-p1 is never re-asked.
    recheck, second, third = _recheck({QUESTIONS[4]: False}, {QUESTIONS[4]: False})
    assert recheck.new_pairs(7) == 5
    out = recheck.ask(QUESTIONS, ROWS, X, *EARLIER, round=1, budget=7)
    assert second.asked == [QUESTIONS[4]] and third.asked == [QUESTIONS[4]]
    assert [x.similar for x in out.labels] == [True, True, False, False, False]
    assert out.answers == 7 and out.info["recheck_changed"] == 1


def test_recheck_with_agreement_moves_on_and_a_tie_keeps_the_first_answer():
    # The second agrees on p0-p9 (1 answer), then is asked p0-p1 and disagrees: a tie with no
    # answer left for a third, so the first answer stands.
    recheck, second, third = _recheck({QUESTIONS[4]: True, QUESTIONS[2]: True}, {})
    out = recheck.ask(QUESTIONS, ROWS, X, *EARLIER, round=1, budget=7)
    assert second.asked == [QUESTIONS[4], QUESTIONS[2]] and third.asked == []
    assert [x.similar for x in out.labels] == [True, True, False, False, True]
    assert out.answers == 7 and out.info["recheck_changed"] == 0


def test_boundary_annotator_never_errs_more_than_a_guess():
    # 30% of all pairs on average needs a scale that would put the confusable pairs at 0.69;
    # the cap holds them at 0.5, so the target is unreachable under it and says so.
    flip = flip_probabilities(CONFUSION, np.array([10, 10, 10]), 0.13)
    assert flip.max() <= 0.5
    with pytest.raises(ValueError, match="cannot be reached"):
        flip_probabilities(CONFUSION, np.array([10, 10, 10]), 0.3)
