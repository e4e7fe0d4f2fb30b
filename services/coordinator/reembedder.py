"""Re-embedding the archive with a new model version.

Head mode trains only the projection head on cached backbone features, so the archive's new
embeddings are the head applied to those features: milliseconds, in the coordinator. Sending
the archive through the embedding service instead would decode and run the backbone on every
image again (minutes on a CPU) to get the same numbers. :class:`EmbeddingServiceReEmbedder`
does that (``--reembed service``), to check the service against the local path. Full mode (a
fine-tuned backbone) re-embeds on Ray actors holding the new model (``ray_reembedder.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import grpc
import numpy as np

from anneal.models.embedding_model import EmbeddingModel
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.common.shown import shown

if TYPE_CHECKING:  # model_workspace imports round_mode, which imports this module
    from services.coordinator.model_workspace import ImagesToEmbed


class ReEmbedder(ABC):
    """Embeds archive images (workspace rows: ids, backbone features, files) with a model."""

    @abstractmethod
    def embed(self, model: EmbeddingModel, images: ImagesToEmbed) -> np.ndarray:
        """(len(images.ids), dim) L2-normalised embeddings of ``images`` by ``model`` (named by
        its ``version``), in their order."""


class CachedFeatureReEmbedder(ReEmbedder):
    """The model's head applied to cached backbone features (head mode)."""

    def embed(self, model: EmbeddingModel, images: ImagesToEmbed) -> np.ndarray:
        return np.asarray(model.embed_features(images.features), dtype=np.float32)


class EmbeddingServiceReEmbedder(ReEmbedder):
    """Streams the archive ids through the embedding service (the model's version must be
    loaded there)."""

    def __init__(self, channel: grpc.Channel, timeout_s: float = 3600.0) -> None:
        self._stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        self._timeout_s = timeout_s

    @staticmethod
    def _requests(
        model_version: str, ids: Sequence[str]
    ) -> Iterator[embedding_pb2.EmbedImagesRequest]:
        yield embedding_pb2.EmbedImagesRequest(
            options=embedding_pb2.EmbedOptions(model_version=model_version)
        )
        for image_id in ids:
            yield embedding_pb2.EmbedImagesRequest(archive_image_id=image_id)

    def embed(self, model: EmbeddingModel, images: ImagesToEmbed) -> np.ndarray:
        ids = images.ids
        vectors: dict[str, list[float]] = {}
        requests = self._requests(str(model.version), ids)
        for reply in self._stub.EmbedImages(requests, timeout=self._timeout_s):
            for item in reply.embeddings:
                vectors[item.image_id] = list(item.vector)
        missing = [i for i in ids if i not in vectors]
        if missing:
            raise RuntimeError(
                f"the embedding service returned no embedding for {len(missing)} archive images"
                f" (e.g. {shown(missing[0])}); check its archive folder"
            )
        return np.array([vectors[i] for i in ids], dtype=np.float32)
