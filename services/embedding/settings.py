"""The embedding service's settings: the common ones, the pool, the model and the archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from anneal.models.model_version import ModelVersion
from services.common.setting import Setting, integer, positive, text
from services.common.settings import ARCHIVE, BACKBONE, RAY_ADDRESS, CommonSettings
from services.embedding.server import DEFAULT_BATCH_SIZE, DEFAULT_MAX_IMAGE_BYTES

INITIAL_MODEL_VERSION = str(ModelVersion.pretrained())

WORKERS = Setting(
    "--workers", "ANNEAL_EMBEDDING_WORKERS", 0, "Ray actors (0: one per GPU, else 1)", integer
)
WORKER_CPUS = Setting(
    "--worker-cpus",
    "ANNEAL_EMBEDDING_WORKER_CPUS",
    1,
    "CPUs (torch threads) per CPU actor",
    positive,
)
BATCH_SIZE = Setting(
    "--batch-size",
    "ANNEAL_EMBEDDING_BATCH_SIZE",
    DEFAULT_BATCH_SIZE,
    "images per worker batch",
    positive,
)
MAX_IMAGE_BYTES = Setting(
    "--max-image-bytes",
    "ANNEAL_MAX_IMAGE_BYTES",
    DEFAULT_MAX_IMAGE_BYTES,
    "largest encoded image accepted",
    positive,
)
INITIAL_VERSION = Setting(
    "--initial-model-version",
    "ANNEAL_INITIAL_MODEL_VERSION",
    INITIAL_MODEL_VERSION,
    "name of the default version at start-up",
    text,
)
INITIAL_CHECKPOINT = Setting(
    "--initial-checkpoint",
    "ANNEAL_INITIAL_CHECKPOINT",
    "",
    "checkpoint of the initial version; empty = pretrained model, identity head",
    text,
)


@dataclass(frozen=True, kw_only=True)
class EmbeddingSettings(CommonSettings):
    service: ClassVar[str] = "embedding"

    ray_address: str = RAY_ADDRESS.field()
    workers: int = WORKERS.field()
    worker_cpus: int = WORKER_CPUS.field()
    batch_size: int = BATCH_SIZE.field()
    max_image_bytes: int = MAX_IMAGE_BYTES.field()
    backbone: str = BACKBONE.but("backbone of the built-in initial model").field()
    initial_model_version: str = INITIAL_VERSION.field()
    initial_checkpoint: str = INITIAL_CHECKPOINT.field()
    archive: str = ARCHIVE.but("archive folder for archive_image_id requests; empty = none").field()
