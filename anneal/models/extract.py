"""Run a backbone over an archive, reusing cached features and skipping unreadable files.

Files are read and keyed by content here; their encoded bytes go a batch at a time to one hook,
a :data:`BatchExtractor`, which decodes and computes the features where it runs (this process
by default; a pool of remote workers can be plugged in). Each batch is stored in the feature
store (:mod:`anneal.models.feature_store`) as soon as it is computed, so an interrupted
extraction resumes with the images not stored yet; an image the hook could not decode is
reported in ``Extraction.failed`` and skipped. With a store, features are not kept in memory as
they are computed: the result is read from the store at the end, one (n, dim) array.

The bookkeeping (reading and keying files, taking what is cached, storing what is computed,
progress) is :class:`ExtractionRun`, shared with a job that computes the images elsewhere and
plugs in where :func:`extract_features` does, as an :class:`Ingest`
(``services/coordinator/ray_data_ingest.py``: a Ray Data job).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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


class Ingest(Protocol):
    """Features of every readable archive image, stored in the feature store under
    ``cache_dir`` as they are computed and reported to ``progress``: :func:`extract_features`
    (this process or a :data:`BatchExtractor`), or a whole job on a cluster."""

    def __call__(
        self,
        archive: Archive,
        backbone: Backbone,
        *,
        cache_dir: str | Path | None,
        batch_size: int,
        progress: Progress | None,
    ) -> Extraction: ...


@dataclass(frozen=True)
class PendingImage:
    """An archive image not in the store yet: its row, content key and where it is."""

    row: int
    key: str
    path: Path


class ExtractionRun:
    """One extraction as it goes: reads and keys the archive's files in order, takes what the
    cache holds, stores what is computed and reports progress; how the rest is computed is the
    caller's (in batches here, or by a job on a cluster)."""

    def __init__(
        self, archive: Archive, cache: FeatureStore | None, progress: Progress | None = None
    ) -> None:
        self.archive = archive
        self.cache = cache
        self._progress = progress
        self._stored: dict[int, str] = {}  # row -> its key in the store
        self._computed: dict[int, np.ndarray] = {}  # row -> its features, without a store
        self._failed: dict[str, str] = {}

    def pending(self) -> Iterator[tuple[PendingImage, bytes]]:
        """The images not stored yet, in archive order, with their bytes; a cached image is taken
        and an unreadable one recorded as failed on the way."""
        for row, item in enumerate(self.archive.images):
            try:
                data = Path(item.path).read_bytes()
            except OSError as exc:
                self.fail(row, str(exc))
            else:
                key = content_key(data)
                if self.cache is not None and key in self.cache:
                    self._stored[row] = key
                else:
                    yield PendingImage(row, key, Path(item.path)), data
            self._report()

    def fail(self, row: int, reason: str) -> None:
        image_id = self.archive.images[row].id
        self._failed[image_id] = reason
        log.warning("skipping unreadable image %s: %s", image_id, reason)

    def store(self, images: Sequence[PendingImage], results: Sequence[ImageFeatures]) -> None:
        """Keep a computed batch (per image its features or why it failed) and store it in
        the store as one shard."""
        keys: list[str] = []
        vectors: list[np.ndarray] = []
        for image, result in zip(images, results, strict=True):
            if isinstance(result, str):
                self.fail(image.row, result)
            elif self.cache is None:
                self._computed[image.row] = result
            else:
                self._stored[image.row] = image.key
                keys.append(image.key)
                vectors.append(result)
        if self.cache is not None and keys:
            self.cache.put_many(keys, np.stack(vectors))
        self._report()

    def finish(self) -> Extraction:
        """The features of the readable images (ArchiveError if there is none)."""
        total = len(self.archive)
        if self._progress is not None:
            self._progress(total, total)
        if not self._stored and not self._computed:
            raise ArchiveError(
                f"no readable image in archive {self.archive.root} ({len(self._failed)} failed)"
            )
        rows = np.array(sorted(self._stored or self._computed), dtype=np.int64)
        if self.cache is not None:
            features = self.cache.matrix([self._stored[int(r)] for r in rows])
        else:
            features = np.stack([self._computed[int(r)] for r in rows])
        return Extraction(features, rows, self._failed)

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(
                len(self._stored) + len(self._computed) + len(self._failed), len(self.archive)
            )


def open_cache(cache_dir: str | Path | None, backbone: Backbone) -> FeatureStore | None:
    """The feature store of ``backbone``'s features (keyed by its name and input size) under
    ``cache_dir``; None without one."""
    if not cache_dir:
        return None
    return FeatureStore(cache_dir, f"{backbone.name}-{backbone.input_size}")


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
    in this process); the store is keyed by ``backbone``'s name and input size
    either way, so it must compute the
    same features."""
    compute = extractor or (lambda images: encoded_features(backbone, images, device))
    run = ExtractionRun(archive, open_cache(cache_dir, backbone), progress)
    batch: list[tuple[PendingImage, bytes]] = []

    def flush() -> None:
        if batch:
            run.store([image for image, _ in batch], compute([data for _, data in batch]))
            batch.clear()

    for pending in run.pending():
        batch.append(pending)
        if len(batch) >= batch_size:
            flush()
    flush()
    return run.finish()
