"""Backbone features on disk, keyed by image content and model, read by path through a manifest.

A model's features live under ``<root>/<model_key>/`` (the model key names the backbone and its
input size): shards ``shard-NNNNNN.npy`` (float32, rows x dim, ``np.save`` format) with their
content keys in ``shard-NNNNNN.keys.npy``, and ``manifest.json`` (the model key, the dimension,
and each complete shard's rows and file sizes: :mod:`anneal.models.feature_manifest`). The
manifest is the source of truth: a file it does not list is not part of the store.

**Crash safety.** A put writes its shard's files atomically (temporary file, fsync, rename),
then the manifest listing it, also atomically. A crash at any point leaves the previous manifest
and every shard it lists intact; what was being written is an orphan, ignored by readers and
deleted by the next writer before its first write. An interrupted extraction so loses at most
the batch in progress.

**Reading by path.** Opening a store reads the manifest and the keys (64 bytes an image on disk,
about 180 in memory as the key -> row index) and memory-maps the features, so a consumer of
1,000,000 x 1,280 features (4.9 GiB) holds about 180 MB and reads feature pages as it touches
them; :meth:`FeatureStore.matrix` gathers given keys' rows shard by shard into
one array, :meth:`FeatureStore.get` returns a read-only view of one row.

**Damage.** Each listed shard's file sizes and ``.npy`` header (shape, dtype) are checked on open,
not its every byte (that would read the whole store at every start). A shard that fails the check
(truncated or deleted by hand, a disk fault) is left out with a warning naming the file: its
images are missing, so extraction computes them again, and the next writer drops it from the
manifest and deletes its files. Recomputing one shard's images beats refusing to start until
someone deletes the whole store. A manifest that cannot be read, or of another model, is a
StateError naming it (its shards cannot be trusted; deleting the folder recomputes them).

**Shard count.** A put writes one shard (a batch of 32 images in the coordinator), so the
newest shards are merged as they accumulate, keeping their rows in order (size-tiered, with
tier = floor(log_fanout(rows))): once the newest run of shards of tier <= t holds ``fanout``
shards of tier t, the run becomes one shard, for t below the tier of ``large_rows``; shards of
``large_rows`` rows or more are final. A merge climbs at least one tier, so each row is
rewritten about log_fanout(large_rows / batch) times (3 for batches of 32: 4x the bytes of the
features written in all), and there are at most ``fanout`` - 1 shards per tier below
``large_rows`` (1,000,000 images in batches of 32: about 20 shards at the end, 51 at most).

**Writers and readers.** One writer at a time per model folder (the coordinator's extraction);
any number of readers, each seeing the manifest it opened (a reader that finds a listed shard
gone because a merge replaced it reads the new manifest again).

**Where.** A local folder by default (``ANNEAL_FEATURE_CACHE``, ``.cache/features``). In
Kubernetes the folder is on a volume: the coordinator's own (``/var/lib/anneal/cache/features``,
k8s/base/services/coordinator.yaml); for pods on other nodes to read the store by path it goes
on a shared volume (a ReadWriteMany claim, like ``anneal-models``). Object-store URLs are not
read directly: mount the bucket as a volume (a CSI driver) instead.

**Earlier caches.** A folder written by earlier versions (one ``.npz`` per batch, no manifest:
:mod:`anneal.models.legacy_feature_cache`) is taken over when opened: its features are written
into the store and its ``.npz`` files deleted, so nothing is computed again.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
from collections.abc import KeysView, Sequence
from pathlib import Path

import numpy as np

from anneal.errors import ConfigError, StateError
from anneal.models.feature_manifest import (
    MANIFEST,
    SHARD_NAME,
    Manifest,
    ShardEntry,
    read_manifest,
    write_manifest,
)
from anneal.models.feature_shard import (
    DTYPE,
    DamagedShard,
    FeatureShard,
    open_shard,
    write_merged,
    write_shard,
)
from anneal.models.legacy_feature_cache import legacy_files, read_legacy_shards

log = logging.getLogger(__name__)

OWN_FILE = re.compile(
    rf"({SHARD_NAME.pattern}(\.keys)?\.npy|\.({SHARD_NAME.pattern}\..*|{re.escape(MANIFEST)}\..*)\.tmp)"
)
"""Files a store writes (shards, and the temporary files of atomic writes): a writer deletes
those the manifest does not list; other files in the folder are left alone."""
OPEN_ATTEMPTS = 3
MATRIX_CHUNK = 1 << 16
"""Rows :meth:`FeatureStore.matrix` gathers from a shard at a time (bounds its temporary copy)."""


def content_key(data: bytes) -> str:
    """A stable key for an image's bytes."""
    return hashlib.sha256(data).hexdigest()


def merge_start(rows: Sequence[int], fanout: int, large_rows: int) -> int | None:
    """Where the run of newest shards to merge into one begins (None: no merge is due).

    For tiers t = 0, 1, ... below ``large_rows``' tier, the newest shards of tier <= t, once
    ``fanout`` of them are of tier t (module docstring, "Shard count")."""
    tiers = [_tier(r, fanout) for r in rows]
    for top in range(_tier(large_rows, fanout)):
        run = same = 0
        while run < len(tiers) and tiers[-1 - run] <= top:
            same += tiers[-1 - run] == top
            run += 1
        if same >= fanout:
            return len(tiers) - run
    return None


def _is_range(values: np.ndarray) -> bool:
    """Whether ``values`` are consecutive ascending integers."""
    return bool(np.all(np.diff(values) == 1))


def _tier(rows: int, fanout: int) -> int:
    tier = 0
    while rows >= fanout:
        rows //= fanout
        tier += 1
    return tier


class FeatureStore:
    """Feature vectors of one model (the folder is named after it), keyed by content."""

    def __init__(
        self, root: str | Path, model_key: str, fanout: int = 16, large_rows: int = 1 << 16
    ) -> None:
        if fanout < 2 or large_rows < fanout:
            raise ConfigError(f"feature store fanout {fanout} must be >= 2 and <= large_rows")
        self.folder = Path(root) / model_key
        self.model_key = model_key
        self._fanout = fanout
        self._large_rows = large_rows
        self._on_disk: Manifest | None = None
        self._dim: int | None = None
        self._shards: list[FeatureShard] = []
        self._starts = [0]  # row i of shard s is position _starts[s] + i
        self._index: dict[str, int] = {}  # key -> position of its newest row
        self._next_shard: int | None = None  # set by the first write
        self._open()
        if self.folder.is_dir() and legacy_files(self.folder):
            self._take_over_legacy()

    @property
    def dim(self) -> int | None:
        """The feature dimension (None while the store is empty)."""
        return self._dim

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def keys(self) -> KeysView[str]:
        return self._index.keys()

    def get(self, key: str) -> np.ndarray | None:
        """The key's features (a read-only view of the mapped shard), or None."""
        position = self._index.get(key)
        if position is None:
            return None
        shard = bisect.bisect_right(self._starts, position) - 1
        return self._shards[shard].features[position - self._starts[shard]]

    def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """Per key, in order, its features or None when it is not stored."""
        return [self.get(key) for key in keys]

    def matrix(self, keys: Sequence[str]) -> np.ndarray:
        """The keys' features as one (len(keys), dim) float32 array, read shard by shard in
        file order; KeyError when some key is not stored."""
        missing = [key for key in keys if key not in self._index]
        if missing:
            raise KeyError(
                f"{len(missing)} of {len(keys)} keys are not in the feature store "
                f"{self.folder} (first: {missing[0]})"
            )
        out = np.empty((len(keys), self._dim or 0), dtype=DTYPE)
        positions = np.fromiter((self._index[k] for k in keys), dtype=np.int64, count=len(keys))
        order = np.argsort(positions, kind="stable")
        bounds = np.searchsorted(positions[order], self._starts)
        for shard, start in enumerate(self._starts[:-1]):
            features = self._shards[shard].features
            for first in range(bounds[shard], bounds[shard + 1], MATRIX_CHUNK):
                rows = order[first : min(first + MATRIX_CHUNK, bounds[shard + 1])]
                source = positions[rows] - start
                if _is_range(rows) and _is_range(source):  # keys in store order: one copy
                    out[rows[0] : rows[-1] + 1] = features[source[0] : source[-1] + 1]
                else:
                    out[rows] = features[source]
        return out

    def put_many(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Store ``features`` (one row per key) as a new shard, durable when this returns.

        A put costs a few fsyncs (about 25 ms on this project's VM disk), whatever its size:
        store a thousand images or more a put where thousands a second are computed."""
        if not len(keys):
            return
        matrix = np.ascontiguousarray(features, dtype=DTYPE)
        if matrix.ndim != 2 or len(matrix) != len(keys):
            raise ValueError(f"{len(keys)} keys for features of shape {matrix.shape}")
        dim = int(matrix.shape[1])
        if self._dim is not None and dim != self._dim:
            raise StateError(
                f"features of dimension {dim} for the feature store {self.folder} of dimension "
                f"{self._dim}: the model key must name the backbone that computed them"
            )
        self._begin_writing()
        entry = write_shard(self.folder, self._new_shard_name(), keys, matrix)
        shard, stored = open_shard(self.folder, entry, dim)
        self._commit(Manifest(self.model_key, dim, (*self._entries(), entry)))
        self._dim = dim
        self._add(shard, stored)
        self._compact()

    def _open(self) -> None:
        """Read the manifest and open its shards (again if a writer replaced it meanwhile)."""
        damaged: list[str] = []
        for _ in range(OPEN_ATTEMPTS):
            damaged = []
            self._shards, self._starts, self._index = [], [0], {}
            manifest = read_manifest(self.folder, self.model_key)
            self._on_disk = manifest
            if manifest is None:
                return
            self._dim = manifest.dim
            for entry in manifest.shards:
                try:
                    shard, keys = open_shard(self.folder, entry, manifest.dim or 0)
                except DamagedShard as exc:
                    damaged.append(str(exc))
                    continue
                self._add(shard, keys)
            if not damaged or read_manifest(self.folder, self.model_key) == manifest:
                break
        for reason in damaged:
            log.warning(
                "feature store shard left out, its images will be computed again: %s", reason
            )

    def _add(self, shard: FeatureShard, keys: list[str]) -> None:
        start = self._starts[-1]
        self._index.update(zip(keys, range(start, start + len(keys)), strict=True))
        self._shards.append(shard)
        self._starts.append(start + len(keys))

    def _entries(self) -> tuple[ShardEntry, ...]:
        return tuple(shard.entry for shard in self._shards)

    def _begin_writing(self) -> None:
        """Before this object's first write: drop shards left out as damaged from the manifest
        and delete what the manifest does not list (orphans of a crash, damaged shards)."""
        if self._next_shard is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        listed = Manifest(self.model_key, self._dim, self._entries())
        if self._on_disk is not None and listed != self._on_disk:
            self._commit(listed)
        keep = {name for e in listed.shards for name in (e.features_file, e.keys_file)}
        for path in self.folder.iterdir():
            if OWN_FILE.fullmatch(path.name) and path.name not in keep:
                log.info("deleting %s: not in the feature store's manifest", path)
                path.unlink(missing_ok=True)
        numbers = [int(e.name.removeprefix("shard-")) for e in listed.shards]
        self._next_shard = max(numbers, default=-1) + 1

    def _new_shard_name(self) -> str:
        assert self._next_shard is not None, "_begin_writing first"
        name = f"shard-{self._next_shard:06d}"
        self._next_shard += 1
        return name

    def _commit(self, manifest: Manifest) -> None:
        write_manifest(self.folder, manifest)
        self._on_disk = manifest

    def _compact(self) -> None:
        """Merge runs of the newest shards while one is due (module docstring, "Shard count");
        rows keep their positions, so the index is unchanged."""
        while (
            start := merge_start(
                [s.entry.rows for s in self._shards], self._fanout, self._large_rows
            )
        ) is not None:
            parts = self._shards[start:]
            entry = write_merged(self.folder, self._new_shard_name(), parts)
            merged, _ = open_shard(self.folder, entry, self._dim or 0)
            self._commit(Manifest(self.model_key, self._dim, (*self._entries()[:start], entry)))
            self._shards[start:] = [merged]
            self._starts[start + 1 :] = [self._starts[start] + entry.rows]
            for part in parts:
                (self.folder / part.entry.features_file).unlink(missing_ok=True)
                (self.folder / part.entry.keys_file).unlink(missing_ok=True)

    def _take_over_legacy(self) -> None:
        """Write an earlier version's ``.npz`` cache into the store, then delete its files."""
        vectors: dict[str, np.ndarray] = {}
        for legacy in read_legacy_shards(self.folder):
            vectors.update(zip(legacy.keys, legacy.features, strict=True))
        new = [key for key in vectors if key not in self._index]
        if new:
            self.put_many(new, np.stack([vectors[key] for key in new]))
        files = legacy_files(self.folder)
        for path in files:
            path.unlink(missing_ok=True)
        log.info(
            "feature store %s took over %d features from %d files of an earlier cache",
            self.folder,
            len(new),
            len(files),
        )
