"""Full mode (backbone fine-tuning) runs on CPU; the same path on CUDA when a GPU exists."""

from pathlib import Path

import pytest
import torch

from anneal.experiment.config import ExperimentConfig
from anneal.experiment.runner import run_experiment
from anneal.training.config import TrainConfig


def _cfg(archive: Path, tmp_path: Path, device: str) -> ExperimentConfig:
    return ExperimentConfig(
        archive=str(archive),
        strategies=["mgue"],
        budget=3,
        rounds=1,
        seeds=1,
        mode="full",
        neighbours=2,
        random_per_image=1,
        diversity_multiple=2,
        full_supervision_pairs=6,
        full_supervision_epochs=1,
        cache_dir=str(tmp_path / "cache"),
        device=device,
        train=TrainConfig(epochs=1, batch_pairs=4),
    )


def test_full_mode_changes_the_backbone(tiny_archive: Path, tmp_path: Path):
    result = run_experiment(_cfg(tiny_archive, tmp_path, "cpu"), tmp_path / "run")
    assert [r["labelled_pairs"] for r in result.rows] == [0, 3]
    saved = torch.load(tmp_path / "run" / "state" / "mgue-seed0.round1.model.pt", weights_only=True)
    assert saved["backbone_state"] is not None  # full mode checkpoints the tuned backbone


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_full_mode_on_cuda(tiny_archive: Path, tmp_path: Path):
    result = run_experiment(_cfg(tiny_archive, tmp_path, "cuda"), tmp_path / "run")
    assert [r["labelled_pairs"] for r in result.rows] == [0, 3]
