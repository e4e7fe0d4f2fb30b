"""Pairs of archive rows and the labels people (or an oracle) gave them.

A pair is stored canonically as (i, j) with i < j, so (a, b) and (b, a) are the same question.
Answers become rows in one place: anneal/al/labelled_pairs.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def canonical(pairs: np.ndarray) -> np.ndarray:
    """(P, 2) int64 with the smaller row first; pairs of an image with itself are dropped."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = np.sort(pairs, axis=1)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def pair_codes(pairs: np.ndarray, n: int) -> np.ndarray:
    """One int64 per canonical pair, for fast set operations."""
    return pairs[:, 0].astype(np.int64) * n + pairs[:, 1]


def unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Canonical pairs without repeats, in ascending code order."""
    pairs = canonical(pairs)
    _, first = np.unique(pair_codes(pairs, n), return_index=True)
    return pairs[np.sort(first)]


def exclude_pairs(pairs: np.ndarray, excluded: np.ndarray, n: int) -> np.ndarray:
    """Canonical `pairs` that are not in canonical `excluded`."""
    if len(excluded) == 0:
        return pairs
    keep = ~np.isin(pair_codes(pairs, n), pair_codes(canonical(excluded), n))
    return pairs[keep]


@dataclass(frozen=True)
class PairLabel:
    """One answer: image ids a < b, the bit, who answered, in which round, when (unix seconds)."""

    a: str
    b: str
    similar: bool
    annotator: str
    round: int
    time: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PairLabel:
        return cls(
            a=str(data["a"]),
            b=str(data["b"]),
            similar=bool(data["similar"]),
            annotator=str(data["annotator"]),
            round=int(data["round"]),  # type: ignore[call-overload]
            time=float(data["time"]),  # type: ignore[arg-type]
        )
