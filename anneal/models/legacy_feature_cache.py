"""The feature cache of earlier versions, read once so the feature store can take it over.

Earlier versions kept a model's features as one ``.npz`` file per extracted batch (arrays
``keys`` and ``features``) with no manifest: a shard was complete once it had its final name,
and a batch being written was a ``.npz.partial`` (before that a ``.tmp.npz``) file.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".npz.partial", ".tmp.npz")
"""What earlier versions named a batch being written: never complete, so never read."""


@dataclass(frozen=True)
class LegacyShard:
    path: Path
    keys: list[str]
    features: np.ndarray


def legacy_files(folder: Path) -> list[Path]:
    """The files of an earlier version's cache in the folder (complete shards and partial)."""
    return sorted(p for p in folder.glob("*.npz*") if p.name.endswith((".npz", ".npz.partial")))


def read_legacy_shards(folder: Path) -> Iterator[LegacyShard]:
    """The complete ``.npz`` shards of an earlier version's cache, in name order; one that
    cannot be read is logged and skipped (its images will be computed again)."""
    for path in legacy_files(folder):
        if path.name.endswith(PARTIAL_SUFFIXES):
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = [str(key) for key in data["keys"]]
                features = np.asarray(data["features"], dtype=np.float32)
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("skipping unreadable feature cache shard %s: %s", path, exc)
            continue
        if features.ndim != 2 or len(features) != len(keys):
            log.warning(
                "skipping feature cache shard %s: %d keys for %s features",
                path,
                len(keys),
                features.shape,
            )
            continue
        yield LegacyShard(path, keys, features)
