"""One embedding worker: the body of a Ray actor that holds model versions and embeds batches.

Workers receive encoded image bytes, never paths, so they run on any node of a Ray cluster; they
decode and resize there, which spreads that CPU work over the pool. Checkpoints arrive as bytes
too (through Ray's object store) for the same reason.

Memory: each image is decoded (within the limits of ``anneal.data.image_limits``, checked from
its header again here) and resized to the model's input at once, so only one full-size image is
alive at a time, whatever the batch's length. Time: a batch carries its caller's deadline (wall
clock); the worker checks it before each image and before the model, and gives up once it has
passed, so an abandoned batch frees the actor within one image's decode.

PyTorch and the model code are imported inside the actor, not at module level: the service's own
process only needs this class to create actors, and not importing torch there takes about 3 s
off the service's (re)start, which is most of what a restart costs on a small machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anneal.data.image_io import decode_image
from anneal.errors import ImageDecodeError
from services.embedding.batch_result import BatchResult

if TYPE_CHECKING:
    from anneal.models.embedding_model import EmbeddingModel


class EmbeddingWorker:
    """Holds models by version name and embeds batches of encoded images with one of them."""

    def __init__(self, backbone_name: str, cpu_threads: int) -> None:
        import torch

        self._backbone_name = backbone_name
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        if self._device == "cpu":
            torch.set_num_threads(cpu_threads)
        self._models: dict[str, EmbeddingModel] = {}

    def device(self) -> str:
        """ "cuda" or "cpu"; also the call that tells the pool the actor is up."""
        return self._device

    def resident_bytes(self) -> int:
        """The worker process's resident memory now (Linux ``/proc``; 0 elsewhere)."""
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return 0
        return pages * os.sysconf("SC_PAGE_SIZE")

    def load(self, version: str, checkpoint: bytes | None) -> int:
        """Loads ``checkpoint`` (None: the pretrained backbone with the identity head) as
        ``version``; its dim."""
        from anneal.models.embedding_model import EmbeddingModel

        if checkpoint is None:
            model = EmbeddingModel.create(self._backbone_name)
        else:
            with tempfile.TemporaryDirectory(prefix="anneal-ckpt-") as folder:
                path = Path(folder) / "model.pt"
                path.write_bytes(checkpoint)
                model = EmbeddingModel.load(path)
        model.eval().to(self._device)
        self._models[version] = model
        return int(model.info.dim)

    def unload(self, version: str) -> bool:
        """Frees ``version``; False when it was not loaded."""
        return self._models.pop(version, None) is not None

    def embed(
        self, version: str, images: list[bytes], deadline: float | None = None
    ) -> BatchResult:
        """Decodes and embeds ``images`` with ``version``, giving up once ``deadline`` (a
        ``time.time()``) has passed; see :class:`BatchResult`."""
        model = self._models.get(version)
        if model is None:
            return BatchResult.missing()
        started = time.perf_counter()
        inputs: list[np.ndarray] = []
        failed: dict[int, ImageDecodeError] = {}
        for position, data in enumerate(images):
            if deadline is not None and time.time() > deadline:
                return BatchResult.past_deadline()
            try:
                inputs.append(model.backbone.resize(decode_image(data)))
            except ImageDecodeError as exc:
                failed[position] = exc
        decoded = time.perf_counter()
        if failed:
            return BatchResult(vectors=None, decode_seconds=decoded - started, failed=failed)
        if deadline is not None and time.time() > deadline:
            return BatchResult.past_deadline()
        vectors = model.embed_images(inputs, self._device)
        return BatchResult(
            vectors=vectors,
            decode_seconds=decoded - started,
            model_seconds=time.perf_counter() - decoded,
        )
