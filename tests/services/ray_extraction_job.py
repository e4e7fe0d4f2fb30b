"""Run by test_ray_extraction.py in a process of its own (its own local Ray of 2 CPUs, so the
session's shared Ray, whose CPUs the embedding pool holds, is not involved).

``python ray_extraction_job.py ARCHIVE SCRATCH`` extracts the archive's features on 2 CPU
actors in batches of 4, interrupted on the third batch, then resumed; prints a JSON line with
the images each run passed to the pool, the images each way reported failed, and whether the
features equal an in-process run's.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from anneal.data.archive import Archive
from anneal.models.encoded_features import ImageFeatures
from anneal.models.extract import extract_features
from anneal.models.registry import build_backbone
from services.coordinator.ray_extractor import RayExtractor
from services.embedding.ray_session import connect_ray


class Interrupted(Exception):
    pass


class Counted:
    """The pool, counting the images it is given; raises instead of batch ``fail_on``."""

    def __init__(self, pool: RayExtractor, fail_on: int = 0) -> None:
        self.pool = pool
        self.fail_on = fail_on
        self.batches = 0
        self.images = 0

    def __call__(self, images: Sequence[bytes]) -> list[ImageFeatures]:
        self.batches += 1
        if self.batches == self.fail_on:
            raise Interrupted
        self.images += len(images)
        return self.pool(images)


def main(archive_folder: str, scratch: str) -> None:
    archive = Archive.from_folder(archive_folder)
    backbone = build_backbone("efficientnet-lite0")
    connect_ray("", local_cpus=2)
    pool = RayExtractor.start(2, "efficientnet-lite0", timeout_s=120)
    cache = Path(scratch) / "ray-cache"
    first = Counted(pool, fail_on=3)
    with contextlib.suppress(Interrupted):
        extract_features(archive, backbone, cache, batch_size=4, extractor=first)
    resumed = Counted(pool)
    result = extract_features(archive, backbone, cache, batch_size=4, extractor=resumed)
    local = extract_features(archive, backbone, Path(scratch) / "local-cache", batch_size=4)
    same = bool(
        np.array_equal(result.rows, local.rows)
        and np.allclose(result.features, local.features, rtol=1e-5, atol=1e-5)
    )
    pool.close()
    failed = {"ray": sorted(result.failed), "local": sorted(local.failed)}
    print(
        json.dumps(
            {"first": first.images, "resumed": resumed.images, "failed": failed, "same": same}
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
