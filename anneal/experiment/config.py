"""Experiment configuration: everything a run needs to be repeated exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from anneal.al.calibration import CALIBRATIONS
from anneal.al.class_labels import CLASS_LABEL_STRATEGIES
from anneal.al.round_parameters import check_budget
from anneal.al.strategies import PAIR_BASELINES, STRATEGIES, check_strategy
from anneal.al.training_pairs import DEFAULT_IMPLIED_PAIRS
from anneal.errors import ConfigError
from anneal.training.config import TrainConfig, check_mode
from anneal.training.pair_loss import PairLoss

NOISE_MODELS = ("flip", "boundary")


@dataclass
class ExperimentConfig:
    """One experiment: strategies x seeds x rounds on one archive."""

    archive: str
    strategies: list[str] = field(default_factory=lambda: ["mgue", "bcgue", "random"])
    budget: int = 100
    rounds: int = 10
    #: Rounds of the pair baselines (random, uniform) when they should run on past the
    #: ANNEAL strategies to show where they catch up (0 = `rounds`).
    baseline_rounds: int = 0
    #: Images asked per round by the class-label baselines (0 = `budget`).
    class_budget: int = 0
    seeds: int = 3
    mode: str = "head"
    backbone: str = "efficientnet-lite0"
    #: Local weights file for the backbone (ResNets start random without one).
    weights: str | None = None
    dim: int | None = None
    #: Hidden units of the head's residual branch (0 = a linear head; anneal/models/head.py).
    head_hidden: int = 0
    query_fraction: float = 0.2
    split_seed: int = 0
    #: Train on the pairs the answers imply too (anneal/al/training_pairs.py), a sample of
    #: `implied_pairs` of them per round, half similar and half dissimilar (0 = all).
    transitivity: bool = True
    implied_pairs: int = DEFAULT_IMPLIED_PAIRS
    #: Confident pool pairs added per round as pseudo-labels (anneal/al/pseudo_labels.py; 0 =
    #: off) and the classifier probability that counts as confident.
    pseudo_labels: int = 0
    pseudo_confidence: float = 0.95
    #: Train each round from the previous round's model instead of round 0.
    warm_start: bool = False
    neighbours: int = 10
    random_per_image: int = 5
    diversity_multiple: int = 5
    full_supervision_pairs: int = 20_000
    full_supervision_epochs: int = 5
    #: Simulated annotators (docs/method.md): noise model, its mean flip rate, answers per
    #: pair (a panel resolved by majority), share of each round's budget spent re-asking.
    noise: str = "flip"
    flip_rate: float = 0.0
    annotators_per_pair: int = 1
    recheck_fraction: float = 0.0
    device: str = "cpu"
    cache_dir: str = ".cache/features"
    #: BCGUE calibration (anneal/al/calibration.py): none, temperature, sigmoid or isotonic.
    calibration: str = "none"
    #: Stopping signal and rule (anneal/al/stopping.py): k of the top-k agreement, the agreement
    #: that counts as stable, rounds it must hold, and the mAP@20 gain below which the curve
    #: counts as flat (the rule's stopping point is compared with where it flattens).
    stop_k: int = 20
    stop_agreement: float = 0.95
    stop_patience: int = 2
    flatten_gain: float = 0.005
    #: Equal-width bins of the expected calibration error reported per round.
    ece_bins: int = 10
    train: TrainConfig = field(default_factory=TrainConfig)
    #: Annotation-cost model constants (docs/method.md "Annotation cost" says where they come
    #: from): seconds per pair answer, the web app's measured rate (BENCHMARKS "Issue 8"), and
    #: seconds per class label, an assumption.
    seconds_per_pair: float = 60 / 1559
    seconds_per_class_label: float = 0.2

    def rounds_of(self, strategy: str) -> int:
        """Rounds this strategy runs: the pair baselines may run longer."""
        if strategy in PAIR_BASELINES and self.baseline_rounds > 0:
            return self.baseline_rounds
        return self.rounds

    def budget_of(self, strategy: str) -> int:
        """Questions per round of this strategy: pairs, or images for class labels."""
        if strategy in CLASS_LABEL_STRATEGIES and self.class_budget > 0:
            return self.class_budget
        return self.budget

    def validate(self) -> None:
        """ConfigError with the reason for the first value that cannot work."""
        known = [*STRATEGIES, *CLASS_LABEL_STRATEGIES]
        if not self.strategies:
            raise ConfigError(f"no strategy given; choose from {', '.join(known)}")
        for strategy in self.strategies:
            check_strategy(strategy, known)
        check_budget(self.budget)
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(
                f"unknown calibration {self.calibration!r}; choose from {', '.join(CALIBRATIONS)}"
            )
        check_mode(self.mode)
        for name in ("rounds", "seeds", "stop_k", "stop_patience", "ece_bins"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.5 < self.pseudo_confidence < 1.0:
            raise ConfigError(
                f"pseudo-label confidence must be above 0.5 and below 1, "
                f"got {self.pseudo_confidence}"
            )
        for name in ("baseline_rounds", "class_budget", "implied_pairs", "pseudo_labels"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (off) or more, got {getattr(self, name)}")
        if self.head_hidden < 0 or self.train.max_steps < 0:
            raise ConfigError("head_hidden and train max_steps must be 0 (off) or more")
        PairLoss.from_config(self.train)  # ConfigError naming the losses for an unknown one
        for name in ("seconds_per_pair", "seconds_per_class_label"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")
        self._validate_annotators()

    def _validate_annotators(self) -> None:
        if self.noise not in NOISE_MODELS:
            raise ConfigError(f"unknown noise model {self.noise!r}; choose flip or boundary")
        if not 0.0 <= self.flip_rate < 0.5:
            raise ConfigError(
                f"flip rate must be at least 0 and below 0.5, got {self.flip_rate} "
                "(an annotator wrong half the time or more tells nothing)"
            )
        if self.annotators_per_pair < 1:
            raise ConfigError(
                f"annotators per pair must be at least 1, got {self.annotators_per_pair}"
            )
        if not 0.0 <= self.recheck_fraction < 1.0:
            raise ConfigError(
                f"recheck fraction must be at least 0 and below 1, got {self.recheck_fraction}"
            )
        if self.recheck_fraction > 0 and self.annotators_per_pair > 1:
            raise ConfigError(
                "choose either several annotators per pair or a recheck fraction, not both"
            )
        if self.budget - round(self.recheck_fraction * self.budget) < 1:
            raise ConfigError(
                f"a recheck fraction of {self.recheck_fraction} leaves no new pairs of a "
                f"budget of {self.budget}; lower the fraction or raise the budget"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], strict: bool = True) -> ExperimentConfig:
        """The configuration saved by `to_dict`. Fields this version does not know (a run made
        by another version) are a ConfigError, or dropped when not `strict` (reports only
        read a few fields)."""
        known, known_train = {f.name for f in fields(cls)}, {f.name for f in fields(TrainConfig)}
        top = {k: v for k, v in data.items() if k != "train"}
        train = dict(data.get("train", {}))
        unknown = sorted(set(top) - known) + sorted(f"train.{k}" for k in set(train) - known_train)
        if unknown and strict:
            raise ConfigError(
                f"the saved configuration has fields this version does not know "
                f"({', '.join(unknown)}); it was made by another version, start a new run"
            )
        top = {k: v for k, v in top.items() if k in known}
        return cls(**top, train=TrainConfig(**{k: v for k, v in train.items() if k in known_train}))
