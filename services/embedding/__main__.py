"""``python -m services.embedding``: the embedding service (settings: docs/architecture.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import ray

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.embedding.archive_images import ArchiveImages
from services.embedding.metrics import COLLECTORS
from services.embedding.model_catalog import ModelCatalog
from services.embedding.ray_session import connect_ray
from services.embedding.server import create_server
from services.embedding.settings import EmbeddingSettings
from services.embedding.worker_pool import WorkerPool


def main(argv: Sequence[str] | None = None) -> None:
    settings = EmbeddingSettings.read(argv)  # a bad setting stops us before Ray starts
    archive = ArchiveImages.open(settings.archive)
    connect_ray(settings.ray_address)
    pool = WorkerPool.start(settings.workers, settings.backbone, settings.worker_cpus)
    try:
        catalog = ModelCatalog.start(
            pool, settings.initial_model_version, settings.initial_checkpoint
        )
        run_service(
            SERVICES["embedding"],
            settings,
            lambda address, security: create_server(
                address,
                pool,
                catalog,
                archive,
                settings.batch_size,
                settings.max_image_bytes,
                security=security,
            ),
            COLLECTORS,
        )
    finally:
        pool.close()
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
