"""Run a backbone over an archive, reusing cached features and skipping unreadable files.

Files are read and keyed by content here; their encoded bytes go a batch at a time to one hook,
a :data:`BatchExtractor`, which decodes and computes the features where it runs (this process
by default; a pool of remote workers can be plugged in). Each batch is stored in the feature
store (:mod:`anneal.models.feature_store`) as soon as it is computed, so an interrupted
extraction resumes with the images not stored yet; an image the hook could not decode is
reported in ``Extraction.failed`` and skipped. With a store, features are not kept in memory as
they are computed: the result is read from the store at the end, one (n, dim) array.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from anneal.data.archive import Archive
from anneal.errors import ArchiveError
from anneal.models.backbone import Backbone
from anneal.models.encoded_features import ImageFeatures, encoded_features
from anneal.models.feature_store import FeatureStore, content_key

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (images done, images in the archive) as images are stored, cached or skipped."""
BatchExtractor = Callable[[Sequence[bytes]], Sequence[ImageFeatures]]
"""A batch of encoded images -> per image, in order, its (feature_dim,) backbone features or
the reason it could not be decoded (see :func:`anneal.models.encoded_features.encoded_features`)."""


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

    ``cache_dir``: the feature store's root (None: features only in memory). ``extractor``
    decodes and computes a batch (default: ``encoded_features`` with ``backbone`` on ``device``,
    in this process); the store is keyed by ``backbone``'s name and input size either way, so
    it must compute the same features."""
    compute = extractor or (lambda images: encoded_features(backbone, images, device))
    store = FeatureStore(cache_dir, f"{backbone.name}-{backbone.input_size}") if cache_dir else None
    stored: dict[int, str] = {}  # row -> its key in the store
    computed: dict[int, np.ndarray] = {}  # row -> its features, without a store
    failed: dict[str, str] = {}
    pending: list[tuple[int, str, bytes]] = []

    def flush() -> None:
        if not pending:
            return
        out = compute([data for _, _, data in pending])
        keys: list[str] = []
        vectors: list[np.ndarray] = []
        for (row, key, _), result in zip(pending, out, strict=True):
            if isinstance(result, str):
                image_id = archive.images[row].id
                failed[image_id] = result
                log.warning("skipping unreadable image %s: %s", image_id, result)
            elif store is None:
                computed[row] = result
            else:
                stored[row] = key
                keys.append(key)
                vectors.append(result)
        if store is not None and keys:
            store.put_many(keys, np.stack(vectors))
        pending.clear()

    total = len(archive)
    for row, item in enumerate(archive.images):
        try:
            data = Path(item.path).read_bytes()
            key = content_key(data)
            if store is not None and key in store:
                stored[row] = key
            else:
                pending.append((row, key, data))
        except OSError as exc:
            failed[item.id] = str(exc)
            log.warning("skipping unreadable image %s: %s", item.id, exc)
        if len(pending) >= batch_size:
            flush()
        if progress is not None:
            progress(len(stored) + len(computed) + len(failed), total)
    flush()
    if progress is not None:
        progress(total, total)
    if not stored and not computed:
        raise ArchiveError(f"no readable image in archive {archive.root} ({len(failed)} failed)")
    rows = np.array(sorted(stored or computed), dtype=np.int64)
    if store is not None:
        return Extraction(store.matrix([stored[r] for r in rows]), rows, failed)
    return Extraction(np.stack([computed[r] for r in rows]), rows, failed)
