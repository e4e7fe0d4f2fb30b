"""Ingest as a Ray Data job (ray_data_ingest_job.py, the driver, in a process of its own) over
the 18-image archive plus one broken file (19), in batches of 4 on 2 actors.

On a local Ray of 2 CPUs, interrupted once 8 images are done and resumed: the resumed job
computes exactly the images not stored by the first (the broken one is never stored, so it is
computed again), every image is stored once, in one shard, and the features equal an in-process
extraction's, the broken file reported failed both ways; a job asking for 3 actors of a CPU each
is refused (UnavailableError) once they have not started within its timeout. On a cluster of
a head and a worker node, each started by ``ray start`` as a process of its own (ray_nodes.py):
the job runs on both nodes and its features equal the in-process ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ray_nodes import RAY_ENVIRONMENT, REPO, two_node_cluster
from round_helpers import make_archive

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGES = 19
BROKEN = "red/broken.png"


def _archive(tmp_path: Path) -> Path:
    make_archive(tmp_path / "archive")
    (tmp_path / "archive" / BROKEN).write_bytes(b"\x89PNG garbage")
    return tmp_path / "archive"


def _drive(where: str, archive: Path, scratch: Path) -> dict[str, Any]:
    job = Path(__file__).with_name("ray_data_ingest_job.py")
    done = subprocess.run(
        [sys.executable, str(job), where, str(archive), str(scratch)],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=REPO,
        env=RAY_ENVIRONMENT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _stored_once(shards: list[list[str]]) -> bool:
    keys = [key for shard in shards for key in shard]
    return len(keys) == len(set(keys)) == IMAGES - 1


def test_an_interrupted_ray_data_ingest_resumes_with_only_the_images_not_stored(
    tmp_path: Path,
) -> None:
    report = _drive("local", _archive(tmp_path), tmp_path)
    first, resumed = report["runs"]
    assert first["computed"] == 8  # two batches of 4, then the interruption
    assert first["stored"] in (7, 8)  # 7 if the broken file was among them
    assert resumed["computed"] == IMAGES - first["stored"]
    assert _stored_once(report["shards"])
    assert report["failed"] == {"ray": [BROKEN], "local": [BROKEN]}
    assert report["same"] is True
    assert report["refused"].startswith("3 feature extraction workers did not start within 10s")


def test_ray_data_ingest_runs_on_a_head_and_a_worker_node_started_apart(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    with two_node_cluster(tmp_path / "ray") as address:
        report = _drive(address, archive, tmp_path)
    (run,) = report["runs"]
    assert report["cluster_nodes"] == 2
    assert run == {"computed": IMAGES, "nodes": 2}
    assert _stored_once(report["shards"])
    assert report["failed"] == {"ray": [BROKEN], "local": [BROKEN]}
    assert report["same"] is True
