"""The coordinator's workspace turns a round's answers into training rows (self-pairs dropped).

Ten images with random 1,280-d "backbone features" (no image is read): enough for the round-0
PCA head of 8 dimensions and a round of training on one pair in well under a second.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from anneal.data.archive import Archive, ArchiveImage
from anneal.training.config import TrainConfig
from services.coordinator.model_workspace import ModelWorkspace, WorkspaceConfig

IDS = [f"c/{i}.png" for i in range(10)]


def _workspace(folder: Path) -> ModelWorkspace:
    archive = Archive(folder, [ArchiveImage(i, folder / i, "c") for i in IDS])
    features = np.random.default_rng(0).normal(size=(len(IDS), 1280)).astype(np.float32)
    config = WorkspaceConfig(dim=8, cache_dir=str(folder / "cache"), train=TrainConfig(epochs=1))
    return ModelWorkspace(archive, features, np.arange(len(IDS)), folder, config)


def test_a_round_of_self_pairs_only_has_nothing_to_train_on(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    answers = [(IDS[0], IDS[0], False), (IDS[1], "not/in/archive.png", True)]
    with pytest.raises(ValueError, match="two different indexed archive images"):
        workspace.train(1, answers, seed=0)


def test_training_counts_the_answers_left_after_dropping_a_self_pair(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = _workspace(tmp_path)
    answers = [(IDS[0], IDS[0], False), (IDS[2], IDS[1], True)]
    with caplog.at_level(logging.INFO, logger="services.coordinator.model_workspace"):
        path = workspace.train(1, answers, seed=0)
    assert path.is_file()
    assert "trained round 1 on 1 answers and 0 implied pairs" in caplog.text
