"""One selection round as stored: its arguments and the pairs it chose, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SelectedPair:
    """A canonical pair (image_a < image_b) and the strategy's score for it."""

    image_a: str
    image_b: str
    score: float


@dataclass(frozen=True)
class RoundArguments:
    """What a round is opened with; the same arguments again make StartRound idempotent."""

    round: int
    strategy: str
    budget: int
    seed: int
    index_version: int


@dataclass(frozen=True)
class RoundRecord:
    """A round's arguments (index_version resolved: never 0), its pairs and when it was made."""

    arguments: RoundArguments
    pairs: tuple[SelectedPair, ...]
    created_at_ms: int
    selection_seconds: float

    def to_dict(self) -> dict[str, Any]:
        a = self.arguments
        return {
            "round": a.round,
            "strategy": a.strategy,
            "budget": a.budget,
            "seed": a.seed,
            "index_version": a.index_version,
            "pairs": [[p.image_a, p.image_b, p.score] for p in self.pairs],
            "created_at_ms": self.created_at_ms,
            "selection_seconds": self.selection_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundRecord:
        arguments = RoundArguments(
            round=int(data["round"]),
            strategy=str(data["strategy"]),
            budget=int(data["budget"]),
            seed=int(data["seed"]),
            index_version=int(data["index_version"]),
        )
        pairs = tuple(SelectedPair(str(a), str(b), float(s)) for a, b, s in data["pairs"])
        return cls(arguments, pairs, int(data["created_at_ms"]), float(data["selection_seconds"]))
