"""The coordinator's workspace: each model version it hands out names exactly one model.

Tiny archive on disk, made-up backbone features (the workspace only reads their shape and
fits the round-0 PCA head to them), a dim-8 head.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from round_helpers import make_archive

from anneal.data.archive import Archive
from anneal.errors import StateError
from anneal.models.model_version import ModelVersion
from services.coordinator.model_workspace import ModelWorkspace, WorkspaceConfig


@pytest.fixture
def workspace(tmp_path: Path) -> ModelWorkspace:
    make_archive(tmp_path / "archive")
    archive = Archive.from_folder(tmp_path / "archive")
    features = np.random.default_rng(0).random((len(archive), 1280)).astype(np.float32)
    rows = np.arange(len(archive))
    return ModelWorkspace(archive, features, rows, tmp_path / "models", WorkspaceConfig(dim=8))


def test_round_0_is_named_with_its_dimension_and_saved_under_that_name(
    workspace: ModelWorkspace,
) -> None:
    version = workspace.model_version(0)
    assert str(version) == "round-0-d8"
    model = workspace.model(version)
    assert (model.version, model.head.out_dim) == (version, 8)
    assert workspace.checkpoint(version).name == "round-0-d8.pt"
    assert workspace.checkpoint(version).is_file()
    assert str(workspace.model_version(2)) == "round-2"


def test_a_version_that_names_another_model_is_not_answered_with_this_round_0(
    workspace: ModelWorkspace,
) -> None:
    workspace.model(workspace.model_version(0))
    for other in (ModelVersion.start(4), ModelVersion.pretrained(), ModelVersion.trained(1)):
        with pytest.raises(StateError, match="does not exist"):
            workspace.model(other)
