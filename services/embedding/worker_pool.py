"""A pool of :class:`EmbeddingWorker` Ray actors: one per GPU where Ray has GPUs, else CPU actors.

Each batch goes to an idle actor (the least loaded one), so concurrent batches, from one stream or
from many, run side by side and more workers mean more throughput. The pool remembers where each
model version came from: an actor that Ray restarted after a crash gets its versions back the
first time it is asked for one.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Sequence
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from services.embedding.batch_result import BatchResult
from services.embedding.errors import UnknownModelError, WorkerFailedError
from services.embedding.metrics import EMBEDDING_IMAGES_PER_SECOND, EMBEDDING_WORKERS_READY
from services.embedding.throughput import ThroughputMeter, Totals
from services.embedding.worker import EmbeddingWorker

_log = logging.getLogger(__name__)

ACTOR_RESTARTS = 3


def _cause(exc: RayTaskError) -> BaseException:
    return exc.cause if isinstance(exc.cause, BaseException) else exc


class WorkerPool:
    """Embedding actors, the model versions they hold, and the pool's throughput."""

    def __init__(self, actors: Sequence[Any], device: str) -> None:
        self._actors = list(actors)
        self.device = device
        self._idle: queue.Queue[Any] = queue.Queue()
        for actor in self._actors:
            self._idle.put(actor)
        # Where each loaded version came from: checkpoint bytes in the object store, or None for
        # the built-in pretrained model. Used to reload versions into restarted actors.
        self._sources: dict[str, ray.ObjectRef | None] = {}
        self._meter = ThroughputMeter()

    @classmethod
    def start(
        cls, workers: int, backbone: str, cpu_threads: int = 1, timeout_s: float = 600.0
    ) -> WorkerPool:
        """Starts ``workers`` actors (0: one per GPU in the Ray cluster, or one CPU actor).

        Call after ``ray.init``. With GPUs each actor takes one (``num_gpus=1``); otherwise each
        takes ``cpu_threads`` CPUs and runs torch on that many threads.
        """
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = workers or max(gpus, 1)
        actor_class: Any = ray.remote(EmbeddingWorker).options(
            num_cpus=1 if gpus else cpu_threads,
            num_gpus=1 if gpus else 0,
            max_restarts=ACTOR_RESTARTS,
        )
        actors: list[Any] = [actor_class.remote(backbone, cpu_threads) for _ in range(count)]
        try:
            devices = ray.get([actor.device.remote() for actor in actors], timeout=timeout_s)
        except GetTimeoutError as exc:
            for actor in actors:
                ray.kill(actor)
            raise WorkerFailedError(
                f"{count} embedding workers did not start within {timeout_s:.0f}s; does the Ray"
                f" cluster have {count} free {'GPUs' if gpus else 'CPU slots'}?"
            ) from exc
        pool = cls(actors, devices[0])
        EMBEDDING_WORKERS_READY.set(len(actors))
        _log.info("embedding pool ready", extra={"workers": count, "device": pool.device})
        return pool

    @property
    def size(self) -> int:
        return len(self._actors)

    def images_per_second(self) -> float:
        return self._meter.rate()

    def totals(self) -> Totals:
        """Images embedded since start, and the worker time spent decoding and in the model."""
        return self._meter.totals()

    def load(self, version: str, checkpoint: bytes | None, timeout_s: float | None = None) -> int:
        """Loads a version into every worker; returns its embedding dimension.

        ValueError when the checkpoint cannot be read as a model (no worker keeps it then).
        """
        source = None if checkpoint is None else ray.put(checkpoint)
        try:
            dims = ray.get(
                [actor.load.remote(version, source) for actor in self._actors], timeout=timeout_s
            )
        except RayTaskError as exc:
            self._unload_from_actors(version)
            raise ValueError(
                f"model version {version!r} cannot be loaded: {_cause(exc)}; pass a checkpoint"
                " written by EmbeddingModel.save"
            ) from exc
        except (RayActorError, GetTimeoutError) as exc:
            self._unload_from_actors(version)
            raise WorkerFailedError(f"loading {version!r} failed in a worker: {exc}") from exc
        self._sources[version] = source
        return int(dims[0])

    def unload(self, version: str) -> None:
        """Frees a version in every worker."""
        self._sources.pop(version, None)
        self._unload_from_actors(version)

    def _unload_from_actors(self, version: str) -> None:
        try:
            ray.get([actor.unload.remote(version) for actor in self._actors])
        except (RayActorError, RayTaskError) as exc:
            _log.warning("unloading %s from a worker failed: %s", version, exc)

    def embed(
        self, version: str, images: list[bytes], timeout_s: float | None = None
    ) -> BatchResult:
        """Embeds one batch on an idle worker (waiting up to ``timeout_s`` for one)."""
        try:
            actor = self._idle.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(
                f"no embedding worker became free within {timeout_s:.2f}s; all are busy"
            ) from None
        try:
            result = self._embed_on(actor, version, images, timeout_s)
        finally:
            self._idle.put(actor)
        if result.vectors is not None:
            self._meter.record(len(images), result.decode_seconds, result.model_seconds)
            EMBEDDING_IMAGES_PER_SECOND.set(self._meter.rate())
        return result

    def _embed_on(
        self, actor: Any, version: str, images: list[bytes], timeout_s: float | None
    ) -> BatchResult:
        try:
            result: BatchResult = ray.get(actor.embed.remote(version, images), timeout=timeout_s)
            if result.model_missing:
                if version not in self._sources:
                    raise UnknownModelError(f"model version {version!r} is not loaded")
                _log.info("reloading %s into a restarted worker", version)
                ray.get(actor.load.remote(version, self._sources[version]), timeout=timeout_s)
                result = ray.get(actor.embed.remote(version, images), timeout=timeout_s)
                if result.model_missing:
                    raise UnknownModelError(f"model version {version!r} was unloaded")
        except GetTimeoutError as exc:
            raise TimeoutError(f"embedding a batch took longer than {timeout_s:.2f}s") from exc
        except (RayActorError, RayTaskError) as exc:
            raise WorkerFailedError(f"an embedding worker failed: {exc}; retry") from exc
        return result

    def close(self) -> None:
        """Stops every actor."""
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()
        EMBEDDING_WORKERS_READY.set(0)
