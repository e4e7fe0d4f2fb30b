"""Labelled pairs: the answers so far as archive rows, the one form selection and training read.

Answers arrive as image ids (``(a, b, similar)`` from the label service, or
:class:`~anneal.al.pairs.PairLabel` in the experiments); :meth:`LabelledPairs.from_answers` is
the one place they become rows. It keeps the answers whose two images are both in the archive
being worked on (an image may be unreadable or not indexed) and drops any pair of an image with
itself, which says nothing and which a pair loss cannot train on (its distance is always 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from anneal.al.pairs import PairLabel

#: One answer: two image ids and whether they are similar.
Answer = tuple[str, str, bool]


@dataclass(frozen=True)
class LabelledPairs:
    """Canonical rows ``pairs`` (L, 2) int64, row i < row j, and their bits ``similar`` (L,)."""

    pairs: np.ndarray
    similar: np.ndarray

    def __post_init__(self) -> None:
        if self.pairs.shape != (len(self.similar), 2):
            raise ValueError(
                f"{len(self.similar)} answers need ({len(self.similar)}, 2) pairs, "
                f"got {self.pairs.shape}"
            )

    @classmethod
    def empty(cls) -> LabelledPairs:
        return cls(np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=bool))

    @classmethod
    def from_answers(cls, answers: Iterable[Answer], rows: Mapping[str, int]) -> LabelledPairs:
        """The answers over the archive whose image id -> row map is ``rows``; answers naming
        an image not in it, or one row twice, are left out. Order is kept."""
        known = [
            (rows[a], rows[b], bool(similar))
            for a, b, similar in answers
            if a in rows and b in rows and rows[a] != rows[b]
        ]
        if not known:
            return cls.empty()
        pairs = np.sort(np.array([(i, j) for i, j, _ in known], dtype=np.int64), axis=1)
        return cls(pairs, np.array([s for _, _, s in known], dtype=bool))

    @classmethod
    def from_labels(cls, labels: Iterable[PairLabel], rows: Mapping[str, int]) -> LabelledPairs:
        """:meth:`from_answers` of the experiments' stamped answers."""
        return cls.from_answers(((x.a, x.b, x.similar) for x in labels), rows)

    def __len__(self) -> int:
        return len(self.similar)
