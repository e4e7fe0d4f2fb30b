"""Experiment configuration: everything a run needs to be repeated exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from anneal.al.class_labels import CLASS_LABEL_STRATEGIES
from anneal.al.strategies import STRATEGIES
from anneal.errors import ConfigError
from anneal.training.config import TrainConfig

MODES = ("head", "full")


@dataclass
class ExperimentConfig:
    """One experiment: strategies x seeds x rounds on one archive."""

    archive: str
    strategies: list[str] = field(default_factory=lambda: ["mgue", "bcgue", "random"])
    budget: int = 100
    rounds: int = 10
    seeds: int = 3
    mode: str = "head"
    backbone: str = "efficientnet-lite0"
    #: Local weights file for the backbone (ResNets start random without one).
    weights: str | None = None
    dim: int | None = None
    query_fraction: float = 0.2
    split_seed: int = 0
    transitivity: bool = False
    neighbours: int = 10
    random_per_image: int = 5
    diversity_multiple: int = 5
    full_supervision_pairs: int = 20_000
    full_supervision_epochs: int = 5
    device: str = "cpu"
    cache_dir: str = ".cache/features"
    train: TrainConfig = field(default_factory=TrainConfig)
    #: Annotation-cost model constants (docs/method.md "Annotation cost" says where they come
    #: from): seconds per pair answer, the web app's measured rate (BENCHMARKS "Issue 8"), and
    #: seconds per class label, an assumption.
    seconds_per_pair: float = 60 / 1559
    seconds_per_class_label: float = 0.2

    def validate(self) -> None:
        """ConfigError with the reason for the first value that cannot work."""
        known = [*STRATEGIES, *CLASS_LABEL_STRATEGIES]
        unknown = [s for s in self.strategies if s not in known]
        if unknown or not self.strategies:
            raise ConfigError(
                f"unknown strategy {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"choose from {', '.join(known)}"
            )
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose head or full")
        for name in ("budget", "rounds", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("seconds_per_pair", "seconds_per_class_label"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        data = dict(data)
        data["train"] = TrainConfig(**data.get("train", {}))
        return cls(**data)
