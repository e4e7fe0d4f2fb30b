"""A full-mode round through the coordinator's round machinery on a local Ray of 2 CPUs
(full_mode_round_job.py, in a process of its own): the round stack of round_helpers with full
mode, a head round, a full round and another head round on the 18-image archive.

The full round fine-tunes on Ray Train with 2 CPU workers (DDP), saves the tuned backbone in its
checkpoint and indexes the archive as its own model embeds the images (re-embedded on Ray actors),
not as the head over the cached round-0 features would; the head rounds around it still train the
head only and index exactly the head over the cached features.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DONE = 7  # coordinator.proto ROUND_STATE_DONE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_full_round_fine_tunes_on_ray_train_with_2_workers_and_indexes_the_new_model(
    tmp_path: Path,
) -> None:
    job = Path(__file__).with_name("full_mode_round_job.py")
    done = subprocess.run(
        [sys.executable, str(job), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=540,  # under the tests' 600 s limit
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rounds"] == [[DONE, "head", 2, ""], [DONE, "full", 3, ""], [DONE, "head", 4, ""]]
    assert result["full_runs"] == [2]  # one Ray Train run, 2 workers
    assert result["head_checkpoints_hold_a_backbone"] == [False, False]
    assert result["backbone_moved"] > 1e-4  # the full round's backbone weights were trained
    # index 3 holds the full round's model's own embeddings of the images ...
    assert result["full_from_images"] < 1e-4
    # ... not its head over the cached round-0 backbone features
    assert result["full_from_cached_features"] > 1e-2
    assert all(gap < 1e-5 for gap in result["head_from_cached_features"])
