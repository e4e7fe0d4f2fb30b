"""The archive's backbone features computed by a Ray Data job: ``map_batches`` on an actor pool.

Selected by ``ANNEAL_EXTRACT_ENGINE=ray-data`` (the default) with ``ANNEAL_EXTRACT_WORKERS`` > 0.
The caller (the coordinator) reads and keys every archive file, takes what the feature cache
holds and reports the rest (:class:`anneal.models.extract.ExtractionRun`, as in-process), so a
job resumed after a failure is given only the images not stored yet. Those go to Ray Data as
``(row, path)`` items; ``map_batches`` runs :class:`FeatureBatches` on ``workers`` actors (one
GPU each, ``num_gpus=1``, where the cluster has GPUs; else ``cpu_threads`` CPUs each), which read
each file, decode it within the image limits and compute its features
(:class:`services.coordinator.ray_extractor.FeatureWorker`); the caller streams the results back
with ``iter_batches`` and stores each batch in the feature cache as it comes, so a crash loses
only the batches in flight. A file that does not read or decode comes back as its reason and is
reported failed; the rest of its batch is kept.

Why paths and not bytes: one Dataset runs the whole job, so its actor pool (a backbone load per
actor: ~13 s on this 2-core machine) starts once, and Ray Data streams it with bounded memory;
feeding bytes from the caller would mean either every pending image's bytes in the object store
at once, or a Dataset, and an actor pool start, per window of images. The cost is a requirement:
**the archive must be readable at the same path on every Ray node** (the caller reads it too),
e.g. the archive volume mounted on the Ray pods as on the coordinator's (docs/deploy.md). Pending
files are read twice, once to key them here and once where they are computed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import ray
import ray.data
from ray.exceptions import GetTimeoutError

from anneal.data.archive import Archive
from anneal.data.image_limits import DEFAULT_LIMITS, ImageLimits
from anneal.models.backbone import Backbone
from anneal.models.encoded_features import ImageFeatures
from anneal.models.extract import (
    Extraction,
    ExtractionRun,
    PendingImage,
    Progress,
    open_cache,
)
from anneal.models.feature_store import content_key
from services.common.errors import UnavailableError
from services.coordinator.ray_extractor import FeatureWorker

log = logging.getLogger(__name__)


class FeatureBatches(FeatureWorker):
    """One actor of the job: a batch of ``row``, ``path`` -> ``row``, ``key`` (of the bytes it
    read), ``features`` (zeros where it failed), ``reason`` (why it failed; "" if not) and
    ``node`` (the Ray node that computed it)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        reasons: list[str] = []
        keys: list[str] = []
        readable: list[int] = []
        images: list[bytes] = []
        for position, path in enumerate(batch["path"]):
            try:
                data = Path(str(path)).read_bytes()
            except OSError as exc:
                reasons.append(str(exc))
                keys.append("")
                continue
            reasons.append("")
            keys.append(content_key(data))
            readable.append(position)
            images.append(data)
        features = np.zeros((len(reasons), self.output_dim), dtype=np.float32)
        for position, result in zip(readable, self.features(images), strict=True):
            if isinstance(result, str):
                reasons[position] = result
            else:
                features[position] = result
        node = ray.get_runtime_context().get_node_id()
        return {
            "row": np.asarray(batch["row"], dtype=np.int64),
            "key": np.array(keys, dtype=object),
            "features": features,
            "reason": np.array(reasons, dtype=object),
            "node": np.array([node] * len(reasons), dtype=object),
        }


@dataclass
class RayJobReport:
    """What one job computed: images per Ray node (failed ones included) and how long it took."""

    by_node: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def computed(self) -> int:
        return sum(self.by_node.values())


class RayDataIngest:
    """An :class:`anneal.models.extract.Ingest` on the Ray cluster (call after ``ray.init``):
    ``workers`` actors building ``backbone``, decoding within ``limits``; ``timeout_s`` bounds
    their start (UnavailableError after it). ``last`` says what its latest job computed."""

    def __init__(
        self,
        workers: int,
        backbone: str,
        cpu_threads: int = 1,
        timeout_s: float = 600.0,
        limits: ImageLimits = DEFAULT_LIMITS,
    ) -> None:
        self.workers = workers
        self.backbone = backbone
        self.cpu_threads = cpu_threads
        self.timeout_s = timeout_s
        self.limits = limits
        self.last = RayJobReport()

    def __call__(
        self,
        archive: Archive,
        backbone: Backbone,
        *,
        cache_dir: str | Path | None,
        batch_size: int,
        progress: Progress | None,
    ) -> Extraction:
        """Features of every readable image: cached ones read, the rest computed by the job
        ``batch_size`` at a time and stored a batch at a time. ``backbone`` keys the cache; it
        must be the one the actors build (the same name, as the coordinator's settings give)."""
        run = ExtractionRun(archive, open_cache(cache_dir, backbone), progress)
        pending = {image.row: image for image, _ in run.pending()}
        started = time.monotonic()
        self.last = RayJobReport()
        if pending:  # closed on the way out, so an interrupted job's actors are let go
            with contextlib.closing(self._job(list(pending.values()), batch_size)) as batches:
                for batch in batches:
                    self._store(run, pending, batch)
        self.last.seconds = time.monotonic() - started
        log.info(
            "ingest: %d images computed on %d Ray nodes in %.1fs",
            self.last.computed,
            len(self.last.by_node),
            self.last.seconds,
        )
        return run.finish()

    def _job(
        self, images: list[PendingImage], batch_size: int
    ) -> Generator[dict[str, np.ndarray], None, None]:
        """The results of the Ray Data job over ``images``, a batch at a time as computed."""
        context = ray.data.DataContext.get_current()  # this process's: the coordinator's
        context.enable_progress_bars = False  # progress is ours: metrics, status, console bar
        context.wait_for_min_actors_s = int(self.timeout_s)  # all actors up, then work spreads
        gpus = int(ray.cluster_resources().get("GPU", 0))
        items = [{"row": image.row, "path": str(image.path)} for image in images]
        blocks = -(-len(items) // batch_size)  # a block per batch: each is one actor call
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            FeatureBatches,
            fn_constructor_args=(self.backbone, self.cpu_threads, self.limits),
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_gpus=1 if gpus else 0,
            num_cpus=1 if gpus else self.cpu_threads,
        )
        try:
            yield from dataset.iter_batches(batch_size=batch_size, batch_format="numpy")
        except GetTimeoutError as exc:
            raise UnavailableError(
                f"{self.workers} feature extraction workers did not start within"
                f" {self.timeout_s:.0f}s; does the Ray cluster have room for {self.workers}"
                f" actors of {'1 GPU' if gpus else f'{self.cpu_threads} CPU'} each?"
            ) from exc

    def _store(
        self, run: ExtractionRun, pending: dict[int, PendingImage], batch: dict[str, np.ndarray]
    ) -> None:
        images: list[PendingImage] = []
        results: list[ImageFeatures] = []
        for row, key, vector, reason in zip(
            batch["row"], batch["key"], batch["features"], batch["reason"], strict=True
        ):
            image = pending[int(row)]
            images.append(PendingImage(image.row, str(key) or image.key, image.path))
            results.append(str(reason) if reason else vector)
        self.last.by_node.update(str(node) for node in batch["node"])
        run.store(images, results)
