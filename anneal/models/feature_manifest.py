"""The feature store's manifest: which shards are complete, for which model and dimension.

``manifest.json`` is the store's source of truth (see :mod:`anneal.models.feature_store`): a
shard is part of the store once the manifest lists it, with its rows and the byte sizes of its
two files (checked when it is opened, so a truncated file is noticed without reading every byte).
It is rewritten whole and atomically, so a reader sees the previous manifest or the next one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from anneal.errors import StateError
from anneal.state_files import write_json_atomic

MANIFEST = "manifest.json"
FORMAT = "anneal-feature-store"
VERSION = 1
SHARD_NAME = re.compile(r"shard-\d{6,}")
"""A shard's name (its files are named after it, in the store's folder and nowhere else)."""


@dataclass(frozen=True)
class ShardEntry:
    """One complete shard: ``<name>.npy`` (rows x dim float32) and ``<name>.keys.npy``."""

    name: str
    rows: int
    features_bytes: int
    keys_bytes: int

    @property
    def features_file(self) -> str:
        return f"{self.name}.npy"

    @property
    def keys_file(self) -> str:
        return f"{self.name}.keys.npy"


@dataclass(frozen=True)
class Manifest:
    """The model the features are of, their dimension (None until the first put) and shards."""

    model_key: str
    dim: int | None = None
    shards: tuple[ShardEntry, ...] = field(default_factory=tuple)


def read_manifest(folder: Path, model_key: str) -> Manifest | None:
    """The folder's manifest; None when there is none (a new store, or one from before the
    manifest); StateError naming the file when it cannot be used."""
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    fix = f"delete {folder} to compute its features again"
    try:
        data = json.loads(text)
        if (
            data.get("format") != FORMAT
            or data.get("version") != VERSION
            or data.get("dtype") != "float32"
        ):
            raise StateError(
                f"feature store manifest {path} is not a {FORMAT} version {VERSION} manifest "
                f"of float32 features; {fix}"
            )
        manifest = Manifest(
            model_key=str(data["model_key"]),
            dim=None if data["dim"] is None else int(data["dim"]),
            shards=tuple(
                ShardEntry(
                    name=str(s["name"]),
                    rows=int(s["rows"]),
                    features_bytes=int(s["features_bytes"]),
                    keys_bytes=int(s["keys_bytes"]),
                )
                for s in data["shards"]
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(f"feature store manifest {path} is unreadable ({exc}); {fix}") from exc
    bad = [s.name for s in manifest.shards if not SHARD_NAME.fullmatch(s.name)]
    if bad:
        raise StateError(f"feature store manifest {path} names shard {bad[0]!r}; {fix}")
    if manifest.model_key != model_key:
        raise StateError(
            f"feature store {folder} holds features of model {manifest.model_key!r}, not "
            f"{model_key!r}; move it to a folder named after its model, or {fix}"
        )
    return manifest


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Replace the folder's manifest atomically."""
    write_json_atomic(
        folder / MANIFEST,
        {
            "format": FORMAT,
            "version": VERSION,
            "model_key": manifest.model_key,
            "dim": manifest.dim,
            "dtype": "float32",
            "shards": [
                {
                    "name": s.name,
                    "rows": s.rows,
                    "features_bytes": s.features_bytes,
                    "keys_bytes": s.keys_bytes,
                }
                for s in manifest.shards
            ],
        },
    )
