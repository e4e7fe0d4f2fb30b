"""Abstract annotator: subclasses fill `answer`."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from anneal.al.pairs import PairLabel


class Annotator(ABC):
    """Answers 'are these two images similar?' for pairs of image ids."""

    name: str = "annotator"

    @abstractmethod
    def answer(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """One bit per pair: True when the two images are similar."""

    def label(self, pairs: Sequence[tuple[str, str]], round: int) -> list[PairLabel]:
        """Answers as records stamped with annotator, round and time."""
        bits = self.answer(pairs)
        now = time.time()
        return [
            PairLabel(min(a, b), max(a, b), bool(bit), self.name, round, now)
            for (a, b), bit in zip(pairs, bits, strict=True)
        ]
