"""The coordinator's settings: the common ones, its state, the archive, its peers, the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from anneal.al.training_pairs import DEFAULT_IMPLIED_PAIRS
from services.common.setting import Setting, count, positive, text
from services.common.settings import (
    ADDRESSES,
    ARCHIVE,
    BACKBONE,
    EMBEDDING_DIM,
    EMBEDDINGS_DIR,
    FEATURE_CACHE,
    RAY_ADDRESS,
    STATE_DIR,
    CommonSettings,
)
from services.common.shown import shown
from services.coordinator.runner_factory import REEMBED_MODES

IMPLIED_PAIRS = Setting(
    "--implied-pairs",
    "ANNEAL_IMPLIED_PAIRS",
    DEFAULT_IMPLIED_PAIRS,
    "pairs implied by transitivity trained on per round, sampled (0: the answers only)",
    count,
)
EXTRACT_WORKERS = Setting(
    "--extract-workers",
    "ANNEAL_EXTRACT_WORKERS",
    0,
    "Ray actors extracting the archive's backbone features (0: in the coordinator's process;"
    " how: --extract-engine)",
    count,
)
TRAIN_WORKERS = Setting(
    "--train-workers",
    "ANNEAL_TRAIN_WORKERS",
    2,
    "CPU workers of a full-mode round's Ray Train run and re-embedding where the Ray cluster"
    " has no GPU (with GPUs: one per GPU)",
    positive,
)
EXTRACT_ENGINES = ("ray-data", "actors")


def extract_engine(value: str) -> str:
    if value not in EXTRACT_ENGINES:
        raise ValueError(f"expected one of {', '.join(EXTRACT_ENGINES)}, not {shown(value)}")
    return value


EXTRACT_ENGINE = Setting(
    "--extract-engine",
    "ANNEAL_EXTRACT_ENGINE",
    "ray-data",
    "how --extract-workers compute the features: ray-data (one Ray Data job, map_batches on an"
    " actor pool; the archive must be readable on every Ray node) or actors (each batch split"
    " over a pool of Ray actors; only encoded bytes cross Ray)",
    extract_engine,
)
REEMBED = Setting(
    "--reembed", "ANNEAL_REEMBED", "features", f"one of {', '.join(REEMBED_MODES)}", text
)


@dataclass(frozen=True, kw_only=True)
class CoordinatorSettings(CommonSettings):
    service: ClassVar[str] = "coordinator"

    state_dir: str = STATE_DIR.but("round state and checkpoints").field()
    embeddings_dir: str = EMBEDDINGS_DIR.field()
    archive: str = ARCHIVE.field()
    selection_addr: str = ADDRESSES["selection"].field()
    labels_addr: str = ADDRESSES["labels"].field()
    search_addr: str = ADDRESSES["search"].field()
    embedding_addr: str = ADDRESSES["embedding"].field()
    feature_cache: str = FEATURE_CACHE.field()
    backbone: str = BACKBONE.field()
    dim: int | None = EMBEDDING_DIM.field()
    implied_pairs: int = IMPLIED_PAIRS.field()
    reembed: str = REEMBED.field()
    extract_workers: int = EXTRACT_WORKERS.field()
    train_workers: int = TRAIN_WORKERS.field()
    extract_engine: str = EXTRACT_ENGINE.field()
    ray_address: str = RAY_ADDRESS.but(
        "Ray cluster for --extract-workers and full-mode rounds (ray://host:10001);"
        " empty = local Ray"
    ).field()
