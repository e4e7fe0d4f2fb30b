"""Feature extraction on 2 Ray CPU actors, interrupted and resumed (ray_extraction_job.py, in a
process of its own): the 18-image archive plus one broken file (19, the broken one 13th) in
batches of 4 stops on its third batch with 8 images stored; the resumed run passes the pool
only the other 11, the actors report the broken file failed (decoded there, not on the caller)
as in-process extraction does, and the features equal an in-process extraction's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from round_helpers import make_archive

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_ray_extraction_resumes_with_only_the_images_not_stored_and_skips_a_broken_one(
    tmp_path: Path,
) -> None:
    make_archive(tmp_path / "archive")
    (tmp_path / "archive" / "red" / "broken.png").write_bytes(b"\x89PNG garbage")
    job = Path(__file__).with_name("ray_extraction_job.py")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(job), str(tmp_path / "archive"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "first": 8,
        "resumed": 11,
        "failed": {"ray": ["red/broken.png"], "local": ["red/broken.png"]},
        "same": True,
    }
