"""One selection round as stored: its arguments and the pairs it chose, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anneal.al.round_parameters import RoundParameters


@dataclass(frozen=True)
class SelectedPair:
    """A canonical pair (image_a < image_b) and the strategy's score for it."""

    image_a: str
    image_b: str
    score: float


@dataclass(frozen=True)
class RoundArguments:
    """What a round is opened with: its number, the round's parameters (strategy, budget,
    seed) and the index version whose embeddings it selects over (0: the serving one); the
    same arguments again make StartRound idempotent."""

    round: int
    parameters: RoundParameters
    index_version: int


@dataclass(frozen=True)
class RoundRecord:
    """A round's arguments (index_version resolved: never 0), its pairs and when it was made."""

    arguments: RoundArguments
    pairs: tuple[SelectedPair, ...]
    created_at_ms: int
    selection_seconds: float

    def to_dict(self) -> dict[str, Any]:
        a, p = self.arguments, self.arguments.parameters
        return {
            "round": a.round,
            "strategy": p.strategy,
            "budget": p.budget,
            "seed": p.seed,
            "index_version": a.index_version,
            "pairs": [[p.image_a, p.image_b, p.score] for p in self.pairs],
            "created_at_ms": self.created_at_ms,
            "selection_seconds": self.selection_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundRecord:
        parameters = RoundParameters(
            strategy=str(data["strategy"]), budget=int(data["budget"]), seed=int(data["seed"])
        )
        arguments = RoundArguments(int(data["round"]), parameters, int(data["index_version"]))
        pairs = tuple(SelectedPair(str(a), str(b), float(s)) for a, b, s in data["pairs"])
        return cls(arguments, pairs, int(data["created_at_ms"]), float(data["selection_seconds"]))
