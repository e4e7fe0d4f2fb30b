"""A round's state and record, and the coordinator's whole state, as stored in JSON."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class RoundState(StrEnum):
    """The states of coordinator.proto's RoundState, named as the metric label values."""

    SELECTING = "selecting"
    COLLECTING = "collecting"
    TRAINING = "training"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    SWAPPING = "swapping"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RoundState.DONE, RoundState.FAILED)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RoundStatus:
    """One round: its arguments, where it is, what it produced and how long each stage took."""

    round: int
    strategy: str
    budget: int
    seed: int
    close_when_answered: bool
    mode: str = "head"
    """The training mode (anneal/training/config.py TRAINING_MODES); files from before modes
    existed load as head, the only mode then."""
    annotators_per_pair: int = 1
    """How many annotators should answer each pair (annotators_per_pair.py); files from before
    it existed load as 1, one answer per pair as then."""
    state: RoundState = RoundState.SELECTING
    pairs: int = 0
    labelled_pairs: int = 0
    close_requested: bool = False
    model_version: str = ""
    checkpoint: str = ""
    index_version: int = 0
    error: str = ""
    started_at_ms: int = field(default_factory=now_ms)
    updated_at_ms: int = field(default_factory=now_ms)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundStatus:
        values = dict(data)
        values["state"] = RoundState(values["state"])
        return cls(**values)


@dataclass
class Serving:
    """What serves queries: index version, the model that filled it, its checkpoint, its mAP,
    and the training mode of that model (how to embed the archive again if the index is lost)."""

    index_version: int = 0
    model_version: str = ""
    checkpoint: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    mode: str = "head"


@dataclass
class CoordinatorState:
    """Everything the coordinator stores: the serving index and every round, oldest first."""

    serving: Serving = field(default_factory=Serving)
    rounds: list[RoundStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"serving": asdict(self.serving), "rounds": [r.to_dict() for r in self.rounds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoordinatorState:
        return cls(Serving(**data["serving"]), [RoundStatus.from_dict(r) for r in data["rounds"]])

    @property
    def latest(self) -> RoundStatus | None:
        return self.rounds[-1] if self.rounds else None

    def find(self, round_number: int) -> RoundStatus | None:
        return next((r for r in self.rounds if r.round == round_number), None)
