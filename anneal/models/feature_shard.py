"""One shard of the feature store: its two ``.npy`` files, written atomically, read mapped.

``<name>.npy`` holds the features (float32, rows x dim, ``np.save`` format) and
``<name>.keys.npy`` the rows' content keys (UTF-8 bytes). Each file is written to a temporary
file, fsynced and renamed (:func:`anneal.state_files.write_atomic`); a shard opened for reading
is checked against its manifest entry (byte sizes, then the ``.npy`` header's shape and dtype)
and its features memory-mapped, so opening reads the keys but not the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from anneal.models.feature_manifest import ShardEntry
from anneal.state_files import write_atomic

DTYPE = np.dtype(np.float32)


class DamagedShard(Exception):
    """A shard's files do not match its manifest entry (missing, truncated, another shape)."""


@dataclass(frozen=True)
class FeatureShard:
    """A complete shard: its manifest entry and its features, mapped read-only from disk."""

    entry: ShardEntry
    features: np.ndarray


def write_shard(folder: Path, name: str, keys: Sequence[str], features: np.ndarray) -> ShardEntry:
    """Write a shard of ``features`` (rows x dim, float32) for ``keys``; its manifest entry."""
    key_bytes = np.array([key.encode("utf-8") for key in keys], dtype=np.bytes_)
    write_atomic(folder / f"{name}.npy", lambda out: np.save(out, features, allow_pickle=False))
    write_atomic(folder / f"{name}.keys.npy", lambda out: np.save(out, key_bytes))
    return _entry(folder, name, len(keys))


def write_merged(folder: Path, name: str, parts: Sequence[FeatureShard]) -> ShardEntry:
    """Write one shard holding ``parts``' rows in order, streaming their features (never more
    than one part's features in memory); its manifest entry."""
    rows = sum(part.entry.rows for part in parts)
    dim = parts[0].features.shape[1]

    def features(out: IO[bytes]) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(DTYPE), "fortran_order": False}
        np.lib.format.write_array_header_1_0(out, {**header, "shape": (rows, dim)})
        for part in parts:
            out.write(np.ascontiguousarray(part.features).data)

    keys = np.concatenate([read_keys(folder, part.entry) for part in parts])
    write_atomic(folder / f"{name}.npy", features)
    write_atomic(folder / f"{name}.keys.npy", lambda out: np.save(out, keys))
    return _entry(folder, name, rows)


def read_keys(folder: Path, entry: ShardEntry) -> np.ndarray:
    """The shard's keys as UTF-8 bytes (rows,)."""
    return np.load(folder / entry.keys_file, allow_pickle=False)


def open_shard(folder: Path, entry: ShardEntry, dim: int) -> tuple[FeatureShard, list[str]]:
    """The shard, its features mapped, and its keys; DamagedShard saying what is wrong."""
    for file, expected in (
        (entry.features_file, entry.features_bytes),
        (entry.keys_file, entry.keys_bytes),
    ):
        try:
            size = (folder / file).stat().st_size
        except FileNotFoundError as exc:
            raise DamagedShard(f"{folder / file} is missing") from exc
        if size != expected:
            raise DamagedShard(f"{folder / file} is {size} bytes, the manifest says {expected}")
    try:
        features = np.load(folder / entry.features_file, mmap_mode="r", allow_pickle=False)
        keys = read_keys(folder, entry)
    except (ValueError, OSError, EOFError) as exc:
        raise DamagedShard(f"{folder / entry.name}.*.npy cannot be read ({exc})") from exc
    if features.shape != (entry.rows, dim) or features.dtype != DTYPE:
        raise DamagedShard(
            f"{folder / entry.features_file} holds {features.dtype} {features.shape}, "
            f"the manifest says float32 ({entry.rows}, {dim})"
        )
    if keys.shape != (entry.rows,) or keys.dtype.kind != "S":
        raise DamagedShard(
            f"{folder / entry.keys_file} holds {keys.dtype} {keys.shape}, "
            f"the manifest says {entry.rows} keys"
        )
    return FeatureShard(entry, np.asarray(features)), [k.decode("utf-8") for k in keys.tolist()]


def _entry(folder: Path, name: str, rows: int) -> ShardEntry:
    return ShardEntry(
        name=name,
        rows=rows,
        features_bytes=(folder / f"{name}.npy").stat().st_size,
        keys_bytes=(folder / f"{name}.keys.npy").stat().st_size,
    )
