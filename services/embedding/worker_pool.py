"""A pool of :class:`EmbeddingWorker` Ray actors: one per GPU where Ray has GPUs, else CPU actors.

Each batch goes to an idle actor, so concurrent batches, from one stream or from many, run side
by side and more workers mean more throughput; when all are busy, the next free one goes to the
caller holding fewest (``FairDispatcher``), so a long stream does not hold a query back. The
pool remembers where each model version came from: an actor that Ray restarted after a crash
gets its versions back the first time it is asked for one.

A batch never outlives its caller's deadline: the wait on Ray ends then, the task is cancelled
(``ray.cancel``, which drops it if it has not started) and the actor, which checks the deadline
itself between images, stops within one image. The actor is given back to the pool when its task
has really ended. Ray's errors become clean messages (no traceback, pid, actor id or path; the
log has them): UNAVAILABLE only for a worker that died and that Ray restarts, where a retry can
succeed; a batch that runs a worker out of memory is RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Sequence
from typing import Any

import ray
from ray.exceptions import (
    GetTimeoutError,
    OutOfMemoryError,
    RayActorError,
    RayTaskError,
    TaskCancelledError,
    WorkerCrashedError,
)

from anneal.errors import ImageDecodeError
from services.common.shown import shown
from services.embedding.batch_result import BatchResult
from services.embedding.errors import (
    UnknownModelError,
    WorkerFailedError,
    WorkerOutOfMemoryError,
)
from services.embedding.fair_dispatch import FairDispatcher
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
        self._dispatch: FairDispatcher[Any] = FairDispatcher(self._actors)
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

    def resident_bytes(self, timeout_s: float = 30.0) -> list[int]:
        """Each worker's resident memory now, in bytes (how much a request made them grow)."""
        return [
            int(n)
            for n in ray.get([a.resident_bytes.remote() for a in self._actors], timeout=timeout_s)
        ]

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
            _log.warning("loading %s failed: %s", version, exc)
            raise ValueError(
                f"model version {shown(version)} cannot be loaded"
                f" ({type(_cause(exc)).__name__}); pass a checkpoint written by"
                " EmbeddingModel.save"
            ) from None
        except (RayActorError, GetTimeoutError) as exc:
            self._unload_from_actors(version)
            _log.warning("loading %s failed in a worker: %s", version, exc)
            raise WorkerFailedError(
                f"loading {shown(version)} failed: a worker stopped or did not answer in time;"
                " retry"
            ) from None
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
        self,
        version: str,
        images: list[bytes],
        timeout_s: float | None = None,
        owner: Hashable | None = None,
    ) -> BatchResult:
        """Embeds one batch on an idle worker, all within ``timeout_s`` (TimeoutError after).

        ``owner`` names the caller (one stream): when workers are scarce, the caller holding
        fewest goes first. None: this batch is its own caller.
        """
        deadline = None if timeout_s is None else time.time() + timeout_s
        owner = object() if owner is None else owner
        actor = self._dispatch.acquire(owner, timeout_s)
        running: list[ray.ObjectRef] = []  # the task still running when we stop waiting
        try:
            result = self._embed_on(actor, version, images, deadline, running)
        finally:
            if running:
                running[0].future().add_done_callback(
                    lambda _: self._dispatch.release(actor, owner)
                )
            else:
                self._dispatch.release(actor, owner)
        if result.vectors is not None:
            self._meter.record(len(images), result.decode_seconds, result.model_seconds)
            EMBEDDING_IMAGES_PER_SECOND.set(self._meter.rate())
        return result

    def _embed_on(
        self,
        actor: Any,
        version: str,
        images: list[bytes],
        deadline: float | None,
        running: list[ray.ObjectRef],
    ) -> BatchResult:
        result = self._call(actor.embed.remote(version, images, deadline), deadline, running)
        if result.model_missing:
            if version not in self._sources:
                raise UnknownModelError(f"model version {shown(version)} is not loaded")
            _log.info("reloading %s into a restarted worker", version)
            self._call(actor.load.remote(version, self._sources[version]), deadline, running)
            result = self._call(actor.embed.remote(version, images, deadline), deadline, running)
            if result.model_missing:
                raise UnknownModelError(f"model version {shown(version)} was unloaded")
        if result.expired:
            raise TimeoutError("the caller's deadline passed while the batch was being embedded")
        return result

    @staticmethod
    def _call(ref: ray.ObjectRef, deadline: float | None, running: list[ray.ObjectRef]) -> Any:
        """The task's result within ``deadline``; clean errors for Ray's (see the module)."""
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        try:
            return ray.get(ref, timeout=timeout)
        except GetTimeoutError:
            ray.cancel(ref)  # drops it if not started; a running one stops at the deadline
            running.append(ref)
            raise TimeoutError(
                f"embedding a batch took longer than the caller's deadline ({timeout:.2f}s)"
            ) from None
        except TaskCancelledError:
            raise TimeoutError("the batch was cancelled at the caller's deadline") from None
        except OutOfMemoryError as exc:
            _log.warning("an embedding worker ran out of memory: %s", exc)
            raise WorkerOutOfMemoryError(
                "an embedding worker ran out of memory on this batch; send fewer or smaller images"
            ) from None
        except (RayActorError, WorkerCrashedError) as exc:
            _log.warning("an embedding worker died: %s", exc)
            raise WorkerFailedError(
                "an embedding worker stopped while embedding this batch; it is being restarted,"
                " retry"
            ) from None
        except RayTaskError as exc:
            cause = _cause(exc)
            if isinstance(cause, ImageDecodeError):
                raise type(cause)(str(cause)) from None
            if isinstance(cause, MemoryError):
                raise WorkerOutOfMemoryError(
                    "an embedding worker ran out of memory on this batch; send fewer or smaller"
                    " images"
                ) from None
            _log.error("an embedding worker failed: %s", exc)
            raise RuntimeError(
                f"an embedding worker failed on this batch ({type(cause).__name__})"
            ) from None

    def close(self) -> None:
        """Stops every actor."""
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()
        EMBEDDING_WORKERS_READY.set(0)
