"""Run a backbone over an archive, reusing cached features and skipping unreadable files.

Features are computed a batch at a time through one hook, a :data:`BatchExtractor` (the
backbone in this process by default; a pool of remote workers can be plugged in), and each
batch is stored in the feature cache as soon as it is computed, so an interrupted extraction
resumes with the images not stored yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from anneal.data.archive import Archive
from anneal.data.image_io import decode_image
from anneal.errors import ArchiveError, ImageDecodeError
from anneal.models.backbone import Backbone
from anneal.models.feature_cache import FeatureCache, content_key

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (images done, images in the archive) as images are stored, cached or skipped."""
BatchExtractor = Callable[[Sequence[np.ndarray]], np.ndarray]
"""A batch of RGB uint8 images -> their (B, feature_dim) backbone features."""


@dataclass
class Extraction:
    """Features of the readable images; `rows` are their positions in the archive."""

    features: np.ndarray
    rows: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)  # image id -> reason


def extract_features(
    archive: Archive,
    backbone: Backbone,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    extractor: BatchExtractor | None = None,
) -> Extraction:
    """Features for every readable image of the archive; unreadable ones are logged and skipped.

    ``extractor`` computes a batch (default: ``backbone.features`` on ``device``); the cache is
    keyed by ``backbone``'s name and input size either way, so it must compute the same
    features."""
    compute = extractor or (lambda images: backbone.features(images, device))
    cache = FeatureCache(cache_dir, f"{backbone.name}-{backbone.input_size}") if cache_dir else None
    features: dict[int, np.ndarray] = {}
    failed: dict[str, str] = {}
    pending: list[tuple[int, str, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        out = compute([image for _, _, image in pending])
        for (row, _, _), vector in zip(pending, out, strict=True):
            features[row] = vector
        if cache is not None:
            cache.put_many([key for _, key, _ in pending], out)
        pending.clear()

    total = len(archive)
    for row, item in enumerate(archive.images):
        try:
            data = Path(item.path).read_bytes()
            key = content_key(data)
            cached = cache.get(key) if cache is not None else None
            if cached is not None:
                features[row] = cached
            else:
                pending.append((row, key, decode_image(data)))
        except (ImageDecodeError, OSError) as exc:
            failed[item.id] = str(exc)
            log.warning("skipping unreadable image %s: %s", item.id, exc)
        if len(pending) >= batch_size:
            flush()
        if progress is not None:
            progress(len(features) + len(failed), total)
    flush()
    if progress is not None:
        progress(total, total)
    if not features:
        raise ArchiveError(f"no readable image in archive {archive.root} ({len(failed)} failed)")
    rows = np.array(sorted(features), dtype=np.int64)
    return Extraction(np.stack([features[r] for r in rows]), rows, failed)
