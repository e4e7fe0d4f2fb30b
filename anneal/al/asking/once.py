"""Ask every new pair once: the whole budget buys new pairs."""

from __future__ import annotations

import numpy as np

from anneal.al.annotators.base import Annotator
from anneal.al.asking.base import Answered, Asking


class AskOnce(Asking):
    """One annotator (possibly a panel) answers each new pair; a panel of k costs k answers."""

    def __init__(self, annotator: Annotator, answers_per_pair: int = 1) -> None:
        self.annotator, self.answers_per_pair = annotator, answers_per_pair

    def new_pairs(self, budget: int) -> int:
        return budget

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
        labels = self.annotator.label(questions, round)
        return Answered(labels, self.answers_per_pair * len(labels))
