"""Asking: turns a round's budget into new questions and their answers (and counts answers)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from anneal.al.pairs import PairLabel


@dataclass
class Answered:
    """One round's resolved labels (one per new pair) and how many answers they cost."""

    labels: list[PairLabel]
    answers: int
    info: dict[str, float] = field(default_factory=dict)


class Asking(ABC):
    """Spends a round's budget of answers on new pairs (and, in subclasses, on re-asking)."""

    @abstractmethod
    def new_pairs(self, budget: int) -> int:
        """How many new pairs to select from a round budget of `budget` answers."""

    @abstractmethod
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
        """Answers for `questions` (image ids; `rows` are the same pairs as archive rows),
        given the current model's `embeddings`, the earlier labels (`labelled`, `similar`) and
        the round's `budget` of answers."""
