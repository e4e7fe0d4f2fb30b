"""``python -m services.embedding``: the embedding service (settings: docs/architecture.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

import ray

from anneal.models.model_version import ModelVersion
from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.common.settings import SettingsParser, common_settings
from services.embedding.archive_images import ArchiveImages
from services.embedding.metrics import COLLECTORS
from services.embedding.model_catalog import ModelCatalog
from services.embedding.ray_session import connect_ray
from services.embedding.server import DEFAULT_BATCH_SIZE, DEFAULT_MAX_IMAGE_BYTES, create_server
from services.embedding.worker_pool import WorkerPool

INITIAL_MODEL_VERSION = str(ModelVersion.pretrained())


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def parser(environ: Mapping[str, str] | None = None) -> SettingsParser:
    """The embedding service's settings: the common ones, the pool, the model and the archive.

    Flags win over ``environ`` (default: os.environ), which wins over the defaults.
    """
    settings = SettingsParser(SERVICES["embedding"], environ)
    settings.add(
        "--ray-address",
        "ANNEAL_RAY_ADDRESS",
        "",
        "Ray cluster (ray://host:10001); empty = local Ray",
    )
    settings.add(
        "--workers", "ANNEAL_EMBEDDING_WORKERS", 0, "Ray actors (0: one per GPU, else 1)", int
    )
    settings.add(
        "--worker-cpus",
        "ANNEAL_EMBEDDING_WORKER_CPUS",
        1,
        "CPUs (torch threads) per CPU actor",
        _positive,
    )
    settings.add(
        "--batch-size",
        "ANNEAL_EMBEDDING_BATCH_SIZE",
        DEFAULT_BATCH_SIZE,
        "images per worker batch",
        _positive,
    )
    settings.add(
        "--max-image-bytes",
        "ANNEAL_MAX_IMAGE_BYTES",
        DEFAULT_MAX_IMAGE_BYTES,
        "largest encoded image accepted",
        _positive,
    )
    settings.add(
        "--backbone",
        "ANNEAL_BACKBONE",
        "efficientnet-lite0",
        "backbone of the built-in initial model",
    )
    settings.add(
        "--initial-model-version",
        "ANNEAL_INITIAL_MODEL_VERSION",
        INITIAL_MODEL_VERSION,
        "name of the default version at start-up",
    )
    settings.add(
        "--initial-checkpoint",
        "ANNEAL_INITIAL_CHECKPOINT",
        "",
        "checkpoint of the initial version; empty = pretrained model, identity head",
    )
    settings.add(
        "--archive",
        "ANNEAL_ARCHIVE",
        "",
        "archive folder for archive_image_id requests; empty = none",
    )
    return settings


def main(argv: Sequence[str] | None = None) -> None:
    values = parser().parse(argv)
    settings = common_settings(values)  # a bad setting stops us before Ray starts
    archive = ArchiveImages.open(values.archive)
    connect_ray(values.ray_address)
    pool = WorkerPool.start(values.workers, values.backbone, values.worker_cpus)
    try:
        catalog = ModelCatalog.start(pool, values.initial_model_version, values.initial_checkpoint)
        run_service(
            SERVICES["embedding"],
            settings,
            lambda address, security: create_server(
                address,
                pool,
                catalog,
                archive,
                values.batch_size,
                values.max_image_bytes,
                security=security,
            ),
            COLLECTORS,
        )
    finally:
        pool.close()
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
