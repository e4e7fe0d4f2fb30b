"""Backbone feature extraction on a pool of Ray actors: the ``BatchExtractor`` hook, fanned out.

Opt-in (``ANNEAL_EXTRACT_WORKERS`` > 0; by default the coordinator extracts in its own process).
Each batch that :func:`anneal.models.extract.extract_features` hands the hook is split evenly
over the actors, computed side by side and put back together in order; reading, decoding, the
feature cache, resuming and progress stay with the caller, so what a crash loses is the batch in
progress, as in-process. Actors follow the embedding service's pattern (``services/embedding/
worker_pool.py``): one per GPU with ``num_gpus=1`` where the cluster has GPUs, else CPU actors
with ``cpu_threads`` each; restarted by Ray after a crash, and a batch is idempotent, so Ray
retries it once on a restarted actor.

Limits of this first step: images travel decoded (through Ray's object store), and decoding
stays on the coordinator's CPU; a full ingest job would send encoded bytes and decode on the
actors (or the GPU), as the embedding workers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError

from services.common.errors import UnavailableError

ACTOR_RESTARTS = 3


class FeatureWorker:
    """One actor: the backbone, computing features of a chunk of decoded images."""

    def __init__(self, backbone_name: str, cpu_threads: int) -> None:
        import torch

        from anneal.models.registry import build_backbone

        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        if self._device == "cpu":
            torch.set_num_threads(cpu_threads)
        self._backbone = build_backbone(backbone_name)

    def device(self) -> str:
        """ "cuda" or "cpu"; also the call that says the actor is up."""
        return self._device

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        return self._backbone.features(images, self._device)


class RayExtractor:
    """Call it with a batch of images; the features, computed on every actor at once."""

    def __init__(self, actors: Sequence[Any], timeout_s: float) -> None:
        self._actors = list(actors)
        self._timeout_s = timeout_s

    @classmethod
    def start(
        cls, workers: int, backbone: str, cpu_threads: int = 1, timeout_s: float = 600.0
    ) -> RayExtractor:
        """``workers`` actors (call after ``ray.init``); ``timeout_s`` bounds their start and
        each batch."""
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actor_class: Any = ray.remote(FeatureWorker).options(
            num_cpus=1 if gpus else cpu_threads,
            num_gpus=1 if gpus else 0,
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=1,
        )
        actors = [actor_class.remote(backbone, cpu_threads) for _ in range(workers)]
        try:
            ray.get([actor.device.remote() for actor in actors], timeout=timeout_s)
        except GetTimeoutError as exc:
            for actor in actors:
                ray.kill(actor)
            raise UnavailableError(
                f"{workers} feature extraction workers did not start within {timeout_s:.0f}s;"
                f" does the Ray cluster have {workers} free {'GPUs' if gpus else 'CPU slots'}?"
            ) from exc
        except RayActorError as exc:
            raise UnavailableError(
                f"the feature extraction workers failed to start (backbone {backbone!r});"
                " the Ray worker logs say why"
            ) from exc
        return cls(actors, timeout_s)

    @property
    def size(self) -> int:
        return len(self._actors)

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        chunks = [list(c) for c in np.array_split(np.arange(len(images)), self.size) if len(c)]
        refs = [
            actor.features.remote([images[int(i)] for i in chunk])
            for actor, chunk in zip(self._actors, chunks, strict=False)
        ]
        return np.concatenate(ray.get(refs, timeout=self._timeout_s))

    def close(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()
