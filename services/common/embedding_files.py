"""The archive's embeddings of each index version, on disk where every service that needs them
reads them: written once by the coordinator, read in place by the coordinator (INDEXING,
SWAPPING after a lost build) and by the selection service.

One folder per index version under the embeddings folder (``ANNEAL_EMBEDDINGS_DIR``)::

    index-<version>/vectors.npy     float32 (rows, dim), L2-normalised at write time
    index-<version>/ids.json        the image id of each row, in row order
    index-<version>/manifest.json   version, model version, rows, dim, sizes, sha256; written
                                    last, atomically: its presence means the set is complete

A reader memory-maps ``vectors.npy`` (``np.load(mmap_mode="r")``): nothing is copied or
normalised again, and a crash mid-write (vectors there, manifest missing) reads as absent.
Size: rows x dim x 4 bytes per version (UC Merced at 128-d: 1 MiB; 590k images: 300 MiB); the
coordinator keeps the serving version, the one before it and the one being built.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anneal.state_files import read_json, write_atomic, write_json_atomic

log = logging.getLogger(__name__)

FORMAT = 1
"""The manifest's ``format``; a reader treats any other as absent (written by a newer build)."""
KEEP_VERSIONS = 2
"""Versions kept after a swap: the serving one and the one before (a reader may still map it)."""
_FOLDER = re.compile(r"index-(\d+)")


class EmbeddingsAbsentError(LookupError):
    """An index version's files are not there (never written, dropped, half written or not
    readable); whoever needs them gets them elsewhere or makes them again."""


@dataclass(frozen=True)
class StoredEmbeddings:
    """One version's files as read: ``vectors`` is the memory-mapped (rows, dim) array."""

    version: int
    model_version: str
    ids: tuple[str, ...]
    vectors: np.ndarray

    @property
    def bytes_read(self) -> int:
        """The vectors' bytes (they are mapped; these many are read as they are used)."""
        return int(self.vectors.nbytes)


class EmbeddingFiles:
    """Writes, reads and drops the per-version file sets under ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, version: int) -> Path:
        return self.folder / f"index-{version}"

    def write(
        self, version: int, model_version: str, ids: Sequence[str], vectors: np.ndarray
    ) -> np.ndarray:
        """Store ``vectors`` (one row per id) as ``version``; the normalised float32 array
        stored, which is what gets indexed. Writing a version again replaces it: the old
        manifest goes first, so a crash in between leaves the version absent, never mixed."""
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise ValueError(
                f"index version {version}: {len(ids)} ids but embeddings of shape {matrix.shape}"
            )
        matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)
        folder = self.path(version)
        (folder / "manifest.json").unlink(missing_ok=True)
        ids_text = json.dumps(list(ids), separators=(",", ":")).encode("utf-8")
        write_atomic(folder / "vectors.npy", lambda out: np.save(out, matrix, allow_pickle=False))
        write_atomic(folder / "ids.json", lambda out: out.write(ids_text))
        manifest = {
            "format": FORMAT,
            "version": version,
            "model_version": model_version,
            "rows": int(matrix.shape[0]),
            "dim": int(matrix.shape[1]),
            "vectors_bytes": (folder / "vectors.npy").stat().st_size,
            "vectors_sha256": hashlib.sha256(matrix.data).hexdigest(),
            "ids_sha256": hashlib.sha256(ids_text).hexdigest(),
        }
        write_json_atomic(folder / "manifest.json", manifest)
        return matrix

    def stamp(self, version: int) -> str:
        """The checksum of the version's vectors as its manifest records (one small read): it
        changes when the version is written again (images added); EmbeddingsAbsentError when
        the version has no manifest."""
        try:
            return str(read_json(self.path(version) / "manifest.json")["vectors_sha256"])
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise EmbeddingsAbsentError(f"{self.path(version)} holds no manifest: {exc}") from exc

    def read(self, version: int) -> StoredEmbeddings:
        """The version's embeddings, mapped; EmbeddingsAbsentError saying why when they are
        not there complete."""
        folder = self.path(version)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise EmbeddingsAbsentError(f"{folder} holds no complete embeddings (no manifest)")
        try:
            manifest = read_json(manifest_path)
            if manifest.get("format") != FORMAT or manifest.get("version") != version:
                raise EmbeddingsAbsentError(
                    f"{manifest_path} is format {manifest.get('format')} of version"
                    f" {manifest.get('version')}, expected format {FORMAT} of version {version}"
                )
            vectors_path = folder / "vectors.npy"
            if vectors_path.stat().st_size != manifest["vectors_bytes"]:
                raise EmbeddingsAbsentError(
                    f"{vectors_path} is not the size its manifest records; write it again"
                )
            vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
            ids = tuple(json.loads((folder / "ids.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise EmbeddingsAbsentError(f"{folder} cannot be read: {exc}") from exc
        shape = (manifest["rows"], manifest["dim"])
        if vectors.dtype != np.float32 or vectors.shape != shape or len(ids) != shape[0]:
            raise EmbeddingsAbsentError(
                f"{folder} holds {len(ids)} ids and {vectors.dtype} vectors of shape"
                f" {vectors.shape}; its manifest says {shape[0]} float32 rows of {shape[1]}"
            )
        return StoredEmbeddings(version, str(manifest["model_version"]), ids, vectors)

    def versions(self) -> list[int]:
        """The versions that have a folder (complete or not), oldest first."""
        if not self.folder.is_dir():
            return []
        found = (_FOLDER.fullmatch(entry.name) for entry in self.folder.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def drop(self, version: int) -> None:
        """Remove the version's files (manifest first, so no reader takes the rest)."""
        folder = self.path(version)
        (folder / "manifest.json").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    def drop_older(self, serving_version: int, keep: int = KEEP_VERSIONS) -> None:
        """After a swap: keep the ``keep`` newest versions up to ``serving_version`` (and any
        newer one), drop the rest."""
        for version in self.versions():
            if version <= serving_version - keep:
                log.info("dropping the embeddings of index version %d", version)
                self.drop(version)
