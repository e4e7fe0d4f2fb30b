"""Re-ask the answers most likely wrong: those the current model confidently contradicts.

Budget split. Of a round's budget of B answers, ``R = round(fraction * B)`` are held back and
``B - R`` new pairs are selected and answered once by the first annotator. The model's
prediction for a pair is "similar" when its distance in the current metric space is below the
threshold T (the cut that best separates all labels so far, this round's first answers
included; a two-component mixture of the distances when only one answer occurs yet, as MGUE
does in round 0). An answer the prediction contradicts is a suspect; suspects are re-asked in
order of decreasing margin ``|distance - T|`` (most confident contradiction first): a second
annotator answers (one answer of R), and when it disagrees with the first a third breaks the
tie (another answer of R), if any is left. The votes are resolved by the resolution rule
(majority; a tie the rule breaks by the earliest answer). Held-back answers not needed, because
there are fewer suspects than R allows, are not spent: the row's ``answers`` says what a round
cost.
"""

from __future__ import annotations

import numpy as np

from anneal.al.annotators.base import Annotator
from anneal.al.asking.base import Answered, Asking
from anneal.al.pairs import PairLabel
from anneal.al.resolution import ResolutionRule, Vote
from anneal.al.threshold import pair_distances, threshold_from_labels, threshold_from_mixture


def suspects(distances: np.ndarray, answers: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of answers the distance prediction contradicts, most confident first."""
    answers = np.asarray(answers, dtype=bool)
    predicted = np.asarray(distances) < threshold
    wrong = np.flatnonzero(predicted != answers)
    margin = np.abs(np.asarray(distances)[wrong] - threshold)
    return wrong[np.argsort(-margin, kind="stable")]


class Recheck(Asking):
    """First annotator for every new pair; second and third for the suspects, within R."""

    def __init__(
        self,
        first: Annotator,
        second: Annotator,
        third: Annotator,
        fraction: float,
        rule: ResolutionRule,
    ) -> None:
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"recheck fraction must be in [0, 1), got {fraction}")
        self.first, self.second, self.third = first, second, third
        self.fraction, self.rule = fraction, rule

    def reserve(self, budget: int) -> int:
        return round(self.fraction * budget)

    def new_pairs(self, budget: int) -> int:
        return budget - self.reserve(budget)

    def ask(
        self,
        questions: list[tuple[str, str]],
        rows: np.ndarray,
        embeddings: np.ndarray,
        labelled: np.ndarray,
        similar: np.ndarray,
        round: int,
        budget: int,
    ) -> Answered:
        first = self.first.label(questions, round)
        answers = np.array([x.similar for x in first], dtype=bool)
        distances = pair_distances(embeddings, rows)
        all_similar = np.concatenate([similar, answers])
        if all_similar.any() and not all_similar.all():
            all_distances = np.concatenate([pair_distances(embeddings, labelled), distances])
            t = threshold_from_labels(all_distances, all_similar)
        else:
            t = threshold_from_mixture(distances)
        left = budget - len(questions)
        spent, changed = 0, 0
        resolved = list(first)
        for i in suspects(distances, answers, t):
            if spent >= left:
                break
            votes = [Vote(bool(answers[i]), 0)]
            votes.append(Vote(self.second.answer([questions[i]])[0], 1))
            spent += 1
            if votes[1].similar != votes[0].similar and spent < left:
                votes.append(Vote(self.third.answer([questions[i]])[0], 2))
                spent += 1
            bit = self.rule.resolve(votes)
            if bit != answers[i]:
                changed += 1
            label = first[i]
            resolved[i] = PairLabel(label.a, label.b, bit, "recheck", round, label.time)
        info = {"rechecked_answers": float(spent), "recheck_changed": float(changed)}
        return Answered(resolved, len(questions) + spent, info)
