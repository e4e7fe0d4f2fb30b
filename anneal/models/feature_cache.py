"""On-disk cache of backbone features keyed by image content and backbone.

Shards are append-only `.npz` files, one per extracted batch, written atomically (a temporary
file, flushed to disk, then renamed), so an interrupted extraction loses at most the batch in
progress and never corrupts what was cached before; a temporary file left by a crash is
ignored and removed when the cache is next opened. The shards found in the folder are the
manifest: a shard is complete once it has its final name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np

TMP_SUFFIX = ".npz.partial"
"""A shard being written (not matched by ``*.npz``, so never read as a shard)."""
OLD_TMP_SUFFIX = ".tmp.npz"
"""What earlier versions named a shard being written (it matched ``*.npz``)."""


def content_key(data: bytes) -> str:
    """A stable key for an image's bytes."""
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """Feature vectors for one backbone (the folder is named after it)."""

    def __init__(self, root: str | Path, model_key: str) -> None:
        self.folder = Path(root) / model_key
        self._vectors: dict[str, np.ndarray] = {}
        if self.folder.is_dir():
            for partial in self.folder.glob(f"*{TMP_SUFFIX}"):
                partial.unlink(missing_ok=True)
            for shard in sorted(self.folder.glob("*.npz")):
                if shard.name.endswith(OLD_TMP_SUFFIX):  # left by an earlier version's crash
                    shard.unlink(missing_ok=True)
                    continue
                with np.load(shard) as data:
                    for key, vector in zip(data["keys"], data["features"], strict=True):
                        self._vectors[str(key)] = vector

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray | None:
        return self._vectors.get(key)

    def put_many(self, keys: list[str], features: np.ndarray) -> None:
        """Store features for keys in a new shard."""
        if not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        tmp = self.folder / f"{name}{TMP_SUFFIX}"
        with tmp.open("wb") as out:
            np.savez(out, keys=np.array(keys), features=features.astype(np.float32))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.folder / f"{name}.npz")
        for key, vector in zip(keys, features, strict=True):
            self._vectors[key] = vector
