"""Full mode's re-embedding: the archive through a pool of Ray actors holding the round's model.

A full round fine-tunes the backbone, so the cached backbone features no longer describe the
archive: every image goes through the new backbone and head again. The actors are those of the
feature extraction (:class:`~services.coordinator.ray_extractor.RayExtractor`), given the model
(through Ray's object store): the coordinator reads each batch's encoded bytes, the actors decode
and embed them, one per GPU where the cluster has GPUs, else ``cpu_workers``. The pool lives for
one re-embedding, so it holds no GPU or CPU slot while labels are collected or a round trains.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import ray

from anneal.models.embedding_model import EmbeddingModel
from services.coordinator.images_to_embed import ImagesToEmbed
from services.coordinator.ray_extractor import RayExtractor
from services.coordinator.ray_train_full import cluster_workers
from services.coordinator.reembedder import ReEmbedder


class RayReEmbedder(ReEmbedder):
    """Embeds archive images (read from their files) on Ray actors, ``batch`` images per actor
    per call; ``connect`` joins the Ray cluster first."""

    def __init__(
        self,
        cpu_workers: int,
        connect: Callable[[], None],
        batch: int = 32,
        timeout_s: float = 600.0,
    ) -> None:
        self._cpu_workers = cpu_workers
        self._connect = connect
        self._batch = batch
        self._timeout_s = timeout_s

    def embed(self, model: EmbeddingModel, images: ImagesToEmbed) -> np.ndarray:
        self._connect()
        workers, _ = cluster_workers(self._cpu_workers)
        shared = ray.put(model)  # held until the pool is closed: a restarted actor reads it
        pool = RayExtractor.start(
            workers, model.backbone_name, timeout_s=self._timeout_s, model=shared
        )
        try:
            chunks = []
            step = self._batch * pool.size
            for start in range(0, len(images.paths), step):
                paths = images.paths[start : start + step]
                results = pool([path.read_bytes() for path in paths])
                for path, result in zip(paths, results, strict=True):
                    if isinstance(result, str):
                        raise RuntimeError(
                            f"archive image {path} no longer decodes ({result}); restore it or"
                            " restart the coordinator to index the archive as it is now"
                        )
                chunks.append(np.stack(results))
        finally:
            pool.close()
        return np.concatenate(chunks).astype(np.float32)
