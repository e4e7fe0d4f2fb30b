"""On-disk cache of backbone features keyed by image content and backbone.

Shards are append-only `.npz` files written atomically, so an interrupted extraction loses at
most the shard in progress and never corrupts what was cached before.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np


def content_key(data: bytes) -> str:
    """A stable key for an image's bytes."""
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """Feature vectors for one backbone (the folder is named after it)."""

    def __init__(self, root: str | Path, model_key: str) -> None:
        self.folder = Path(root) / model_key
        self._vectors: dict[str, np.ndarray] = {}
        if self.folder.is_dir():
            for shard in sorted(self.folder.glob("*.npz")):
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
        final = self.folder / f"{uuid.uuid4().hex}.npz"
        tmp = final.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), features=features.astype(np.float32))
        os.replace(tmp, final)
        for key, vector in zip(keys, features, strict=True):
            self._vectors[key] = vector
