"""Shared by the embedding and retrieval tests: one local Ray with one worker pool, tiny images.

Ray and the actors' models take seconds to start, so the whole test session shares one pool
(two CPU workers, one torch thread each); each test builds its own catalog and server around it.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from annealpb.embedding.v1 import embedding_pb2
from services.embedding.model_catalog import ModelCatalog, ModelRecord
from services.embedding.ray_session import connect_ray
from services.embedding.worker_pool import WorkerPool

WORKERS = 2
INITIAL_VERSION = "pretrained"


@functools.cache
def shared_pool() -> WorkerPool:
    """The session's pool (started on first use; Ray shuts it down when the process exits)."""
    connect_ray("", local_cpus=WORKERS)
    return WorkerPool.start(WORKERS, "efficientnet-lite0", cpu_threads=1)


@functools.cache
def initial_model() -> ModelRecord:
    """The pretrained model (identity head), loaded once into the shared pool."""
    return ModelCatalog.start(shared_pool(), INITIAL_VERSION).resolve(INITIAL_VERSION)


def fresh_catalog() -> ModelCatalog:
    """A catalog over the shared pool that knows only the pretrained model (cheap: no loading)."""
    return ModelCatalog(shared_pool(), initial_model())


def png_images(count: int, size: int = 32, seed: int = 0) -> list[bytes]:
    """``count`` distinct random-noise RGB PNGs of ``size`` x ``size`` pixels."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def embed_stream(
    images: Sequence[bytes],
    ids: Sequence[str] | None = None,
    model_version: str = "",
    max_batch: int = 0,
    chunk_bytes: int = 1 << 20,
) -> Iterator[embedding_pb2.EmbedImagesRequest]:
    """An EmbedImages request stream: options, then every image in chunks of ``chunk_bytes``."""
    options = embedding_pb2.EmbedOptions(model_version=model_version, max_batch=max_batch)
    yield embedding_pb2.EmbedImagesRequest(options=options)
    for i, data in enumerate(images):
        image_id = ids[i] if ids else f"img-{i}"
        starts = range(0, len(data), chunk_bytes)
        for start in starts:
            yield embedding_pb2.EmbedImagesRequest(
                chunk=embedding_pb2.ImageChunk(
                    image_id=image_id,
                    data=data[start : start + chunk_bytes],
                    last=start == starts[-1],
                )
            )


def vectors_of(responses: Sequence[embedding_pb2.EmbedImagesResponse]) -> np.ndarray:
    """All embeddings of a stream's responses as one (N, D) array, in order."""
    return np.array([e.vector for r in responses for e in r.embeddings], dtype=np.float32)
