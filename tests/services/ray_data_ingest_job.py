"""Run by test_ray_data_ingest.py in a process of its own, the driver of a Ray Data ingest.

``python ray_data_ingest_job.py local ARCHIVE SCRATCH`` starts its own local Ray of 2 CPUs (so
the session's shared Ray is not involved) and ingests on 2 CPU actors in batches of 4,
interrupted once 8 images are done, then resumed, then asks for 3 actors of a CPU each (more
than the local Ray has: refused). ``python ray_data_ingest_job.py ADDRESS
ARCHIVE SCRATCH`` joins the cluster at ADDRESS and ingests once on 2 actors. Either prints a
JSON line: per run the images the job computed (and stored, for the interrupted one; Ray nodes,
for the last), why 3 actors were refused, the Ray nodes alive, each shard's keys, the images
reported failed each way and whether the features equal an in-process extraction's.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import ray

from anneal.data.archive import Archive
from anneal.models.backbone import Backbone
from anneal.models.extract import Extraction, extract_features
from anneal.models.feature_manifest import read_manifest
from anneal.models.feature_shard import read_keys
from anneal.models.registry import build_backbone
from services.common.errors import UnavailableError
from services.coordinator.ray_data_ingest import RayDataIngest

BACKBONE = "efficientnet-lite0"


class Interrupted(Exception):
    pass


def stop_at(done_at: int):  # type: ignore[no-untyped-def]
    """A progress callback that interrupts the ingest (as a crash would) once ``done_at``
    images are done."""

    def progress(done: int, total: int) -> None:
        if done >= done_at:
            raise Interrupted

    return progress


def stored(cache_dir: Path) -> list[list[str]]:
    """The keys of each shard the feature store's manifest lists."""
    folder = next(cache_dir.iterdir())
    manifest = read_manifest(folder, folder.name)
    if manifest is None:
        return []
    return [sorted(str(key) for key in read_keys(folder, entry)) for entry in manifest.shards]


def refused(archive: Archive, backbone: Backbone, scratch: Path) -> str:
    """What a job asking for 3 actors of a CPU each on the local Ray of 2 CPUs fails with."""
    try:
        RayDataIngest(3, BACKBONE, timeout_s=10)(
            archive, backbone, cache_dir=scratch / "refused", batch_size=4, progress=None
        )
    except UnavailableError as exc:
        return str(exc)
    return "not refused"


def main(where: str, archive_folder: str, scratch: str) -> None:
    archive = Archive.from_folder(archive_folder)
    backbone = build_backbone(BACKBONE)
    cache = Path(scratch) / "ray-cache"
    if where == "local":
        ray.init(
            num_cpus=2,
            object_store_memory=150 * 1024**2,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=tempfile.mkdtemp(prefix="ray-", dir="/tmp"),
        )
    else:
        ray.init(address=where, log_to_driver=False)
    ingest = RayDataIngest(2, BACKBONE)
    runs = []
    if where == "local":
        with contextlib.suppress(Interrupted):
            ingest(archive, backbone, cache_dir=cache, batch_size=4, progress=stop_at(8))
        runs.append({"computed": ingest.last.computed, "stored": sum(map(len, stored(cache)))})
    result: Extraction = ingest(archive, backbone, cache_dir=cache, batch_size=4, progress=None)
    runs.append({"computed": ingest.last.computed, "nodes": len(ingest.last.by_node)})
    local = extract_features(archive, backbone, Path(scratch) / "local-cache", batch_size=4)
    same = bool(
        np.array_equal(result.rows, local.rows)
        and np.allclose(result.features, local.features, rtol=1e-5, atol=1e-5)
    )
    report = {
        "runs": runs,
        "refused": refused(archive, backbone, Path(scratch)) if where == "local" else None,
        "cluster_nodes": sum(bool(node["Alive"]) for node in ray.nodes()),
        "shards": stored(cache),
        "failed": {"ray": sorted(result.failed), "local": sorted(local.failed)},
        "same": same,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
