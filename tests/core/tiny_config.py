"""The experiment configuration the tiny-archive tests start from: small pools, few epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anneal.experiment.config import ExperimentConfig
from anneal.training.config import TrainConfig


def tiny_config(archive: Path, tmp_path: Path, **changes: Any) -> ExperimentConfig:
    """Two rounds of mgue and random, budget 4, 3 epochs; ``changes`` override any field."""
    base: dict[str, Any] = dict(
        archive=str(archive),
        strategies=["mgue", "random"],
        budget=4,
        rounds=2,
        seeds=1,
        neighbours=3,
        random_per_image=2,
        diversity_multiple=2,
        full_supervision_pairs=60,
        cache_dir=str(tmp_path / "cache"),
        train=TrainConfig(epochs=3),
    )
    base.update(changes)
    return ExperimentConfig(**base)
