"""Backbone features of a batch of encoded images, decoded where the features are computed.

The one body of every :data:`anneal.models.extract.BatchExtractor`: in the caller's process by
default, on each Ray actor for the coordinator's pool; :func:`encoded_embeddings` adds a model's
head, for the coordinator's full-mode re-embedding on the same actors. Each image is decoded with
``anneal.data.image_io.decode_image`` within ``limits`` (its header checked first, as the
embedding workers do); one that fails gets its reason instead of a vector, so an unreadable
image never fails the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from anneal.data.image_io import decode_image
from anneal.data.image_limits import DEFAULT_LIMITS, ImageLimits
from anneal.errors import ImageDecodeError
from anneal.models.backbone import Backbone
from anneal.models.embedding_model import EmbeddingModel

ImageFeatures = np.ndarray | str
"""One image's (feature_dim,) features, or why it could not be decoded."""


def encoded_features(
    backbone: Backbone,
    images: Sequence[bytes],
    device: torch.device | str = "cpu",
    limits: ImageLimits = DEFAULT_LIMITS,
) -> list[ImageFeatures]:
    """Per image of ``images``, in order: its features, or the reason it was not decoded."""
    decoded: list[np.ndarray] = []
    positions: list[int] = []
    out: list[ImageFeatures] = []
    for position, data in enumerate(images):
        try:
            decoded.append(decode_image(data, limits))
            positions.append(position)
            out.append("")
        except ImageDecodeError as exc:
            out.append(str(exc) or type(exc).__name__)
    if decoded:
        for position, vector in zip(positions, backbone.features(decoded, device), strict=True):
            out[position] = vector
    return out


def encoded_embeddings(
    model: EmbeddingModel,
    images: Sequence[bytes],
    device: torch.device | str = "cpu",
    limits: ImageLimits = DEFAULT_LIMITS,
) -> list[ImageFeatures]:
    """Per image of ``images``, in order: ``model``'s embedding (its own backbone's features,
    fine-tuned or not, through its head), or the reason it was not decoded."""
    out = encoded_features(model.backbone, images, device, limits)
    rows = [row for row, result in enumerate(out) if not isinstance(result, str)]
    if rows:
        vectors = model.embed_features(np.stack([out[row] for row in rows]))
        for row, vector in zip(rows, vectors, strict=True):
            out[row] = vector
    return out
