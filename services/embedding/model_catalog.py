"""The model versions the service offers: where each came from, its dimension, the default one.

The catalog is the service's record; the :class:`WorkerPool` holds the weights. A version is
listed only once every worker has loaded it, so a request never names a half-loaded version.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from services.common.shown import PATH_CHARS, shown
from services.embedding.errors import DefaultModelError, ModelConflictError, UnknownModelError
from services.embedding.worker_pool import WorkerPool


@dataclass(frozen=True)
class ModelRecord:
    """One loaded version; ``checkpoint_path`` is empty for the built-in pretrained model."""

    version: str
    checkpoint_path: str
    dimension: int
    digest: str


class ModelCatalog:
    """Loads, lists and unloads model versions in a :class:`WorkerPool`."""

    def __init__(self, pool: WorkerPool, initial: ModelRecord) -> None:
        """A catalog whose default is ``initial``, a version ``pool`` has loaded already."""
        self._pool = pool
        self._records: dict[str, ModelRecord] = {initial.version: initial}
        self._default = initial.version
        self._lock = threading.Lock()

    @classmethod
    def start(cls, pool: WorkerPool, version: str, checkpoint_path: str = "") -> ModelCatalog:
        """Loads the initial ``version``: the checkpoint, or the pretrained model if none."""
        if not version:
            raise ValueError("the initial model version needs a name, e.g. pretrained")
        if checkpoint_path:
            data, digest = _read_checkpoint(version, checkpoint_path)
            initial = ModelRecord(version, checkpoint_path, pool.load(version, data), digest)
        else:
            initial = ModelRecord(version, "", pool.load(version, None), digest="")
        return cls(pool, initial)

    @property
    def default_version(self) -> str:
        return self._default

    def records(self) -> list[ModelRecord]:
        return sorted(list(self._records.values()), key=lambda record: record.version)

    def resolve(self, version: str) -> ModelRecord:
        """The record of ``version`` ('' = the default); UnknownModelError if not loaded."""
        name = version or self._default
        record = self._records.get(name)
        if record is None:
            known = ", ".join(sorted(self._records)) or "none"
            raise UnknownModelError(
                f"model version {shown(name)} is not loaded (loaded: {known}); call LoadModel first"
            )
        return record

    def load(
        self, version: str, checkpoint_path: str, make_default: bool
    ) -> tuple[ModelRecord, bool]:
        """Loads a checkpoint as ``version``; False as second item if it was loaded already."""
        if not version:
            raise ValueError("model_version is empty; name the version, e.g. round-3")
        data, digest = _read_checkpoint(version, checkpoint_path)
        with self._lock:
            existing = self._records.get(version)
            if existing is not None:
                if (existing.checkpoint_path, existing.digest) != (checkpoint_path, digest):
                    raise ModelConflictError(
                        f"model version {shown(version)} is loaded from"
                        f" {existing.checkpoint_path or 'the built-in pretrained model'} with other"
                        " content; use a new version name for a new checkpoint"
                    )
                loaded = False
                record = existing
            else:
                dimension = self._pool.load(version, data)
                record = ModelRecord(version, checkpoint_path, dimension, digest)
                self._records[version] = record
                loaded = True
            if make_default:
                self._default = version
        return record, loaded

    def unload(self, version: str) -> bool:
        """Frees a version; False if it was not loaded. The default version cannot be unloaded."""
        with self._lock:
            if version == self._default:
                raise DefaultModelError(
                    f"model version {shown(version)} is the default; make another version the"
                    " default (LoadModel with make_default) before unloading it"
                )
            if self._records.pop(version, None) is None:
                return False
            self._pool.unload(version)
            return True


def _read_checkpoint(version: str, checkpoint_path: str) -> tuple[bytes, str]:
    """The checkpoint's bytes and their SHA-256; FileNotFoundError names a missing file."""
    if not checkpoint_path:
        raise ValueError(f"checkpoint_path is empty for model version {shown(version)}")
    path = shown(checkpoint_path, PATH_CHARS)
    try:
        data = Path(checkpoint_path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; write it before LoadModel"
        ) from None
    except IsADirectoryError:
        raise ValueError(f"checkpoint {path} is a folder, not a file") from None
    except OSError as exc:  # a name too long, no permission...: the path is not usable
        raise ValueError(
            f"checkpoint {path} cannot be read ({exc.strerror}); pass the path of a checkpoint"
            " file the embedding service can read"
        ) from None
    return data, hashlib.sha256(data).hexdigest()
