"""Backbone feature extraction on a pool of Ray actors: the ``BatchExtractor`` hook, fanned out.

Opt-in (``ANNEAL_EXTRACT_WORKERS`` > 0; by default the coordinator extracts in its own process).
Each batch of encoded images that :func:`anneal.models.extract.extract_features` hands the hook
is split evenly over the actors; each actor decodes its chunk (``decode_image`` within the image
limits, header checked first, as the embedding workers do) and computes its features, and the
per-image results are put back together in order. An image that does not decode comes back as
its reason, so it is reported failed and the rest of its batch is kept. Reading the files, the
feature cache, resuming and progress stay with the caller, so what a crash loses is the batch in
progress, as in-process; only encoded bytes cross Ray's object store. Given a model, the same
pool computes its embeddings instead: full mode's re-embedding (``ray_reembedder.py``).

Actors follow the embedding service's pattern (``services/embedding/worker_pool.py``): one per
GPU with ``num_gpus=1`` where the cluster has GPUs, else CPU actors with ``cpu_threads`` each;
restarted by Ray after a crash, and a batch is idempotent, so Ray retries it once on a restarted
actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError

from anneal.data.image_limits import DEFAULT_LIMITS, ImageLimits
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.encoded_features import (
    ImageFeatures,
    encoded_embeddings,
    encoded_features,
)
from services.common.errors import UnavailableError

ACTOR_RESTARTS = 3


class FeatureWorker:
    """One actor: the backbone, decoding a chunk of encoded images and computing features; or,
    given a ``model``, that model's embeddings (its own backbone, then its head)."""

    def __init__(
        self,
        backbone_name: str,
        cpu_threads: int,
        limits: ImageLimits = DEFAULT_LIMITS,
        model: EmbeddingModel | None = None,
    ) -> None:
        import torch

        from anneal.models.registry import build_backbone

        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        if self._device == "cpu":
            torch.set_num_threads(cpu_threads)
        self._compute: Callable[[list[bytes], str, ImageLimits], list[ImageFeatures]]
        if model is None:
            backbone = build_backbone(backbone_name)
            self._compute = partial(encoded_features, backbone)
            self.output_dim = backbone.feature_dim
        else:
            self._compute = partial(encoded_embeddings, model)
            self.output_dim = model.head.out_dim
        self._limits = limits

    def device(self) -> str:
        """ "cuda" or "cpu"; also the call that says the actor is up."""
        return self._device

    def features(self, images: list[bytes]) -> list[ImageFeatures]:
        """Per image, in order: its features, or why it could not be decoded."""
        return self._compute(images, self._device, self._limits)


class RayExtractor:
    """Call it with a batch of encoded images; per image its features or why it failed,
    decoded and computed on every actor at once."""

    def __init__(self, actors: Sequence[Any], timeout_s: float) -> None:
        self._actors = list(actors)
        self._timeout_s = timeout_s

    @classmethod
    def start(
        cls,
        workers: int,
        backbone: str,
        cpu_threads: int = 1,
        timeout_s: float = 600.0,
        limits: ImageLimits = DEFAULT_LIMITS,
        model: Any = None,
    ) -> RayExtractor:
        """``workers`` actors (call after ``ray.init``) decoding within ``limits``;
        ``timeout_s`` bounds their start and each batch. ``model`` (an :class:`EmbeddingModel`
        or a Ray reference to one): the actors compute its embeddings instead of features."""
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actor_class: Any = ray.remote(FeatureWorker).options(
            num_cpus=1 if gpus else cpu_threads,
            num_gpus=1 if gpus else 0,
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=1,
        )
        actors = [actor_class.remote(backbone, cpu_threads, limits, model) for _ in range(workers)]
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

    def __call__(self, images: Sequence[bytes]) -> list[ImageFeatures]:
        chunks = [list(c) for c in np.array_split(np.arange(len(images)), self.size) if len(c)]
        refs = [
            actor.features.remote([images[int(i)] for i in chunk])
            for actor, chunk in zip(self._actors, chunks, strict=False)
        ]
        return [result for chunk in ray.get(refs, timeout=self._timeout_s) for result in chunk]

    def close(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()
