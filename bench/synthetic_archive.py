"""A synthetic archive for the large-archive benchmarks: clustered backbone features and ids.

No image is decoded: the features stand for the backbone's (1280-d for EfficientNet-Lite0): each
class is a cluster of ``GROUPS`` tight Gaussian groups (the scenes of a class fall into groups:
places, sensors, seasons), written in chunks to a ``.npy`` file and memory-mapped, so 1,000,000
x 1280 float32 (4.9 GiB) never has to fit in memory twice. The ids are ``c<class>/img<row>.jpg``
in class order, so the class is the folder (as the simulated annotator reads it) and the rows are
in the order :meth:`Archive.from_folder` lists the folder of empty files made for the services
that scan the archive (the selection service reads its image ids that way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anneal.data.archive import Archive, ArchiveImage

FEATURE_DIM = 1280
"""EfficientNet-Lite0's feature dimension."""
CHUNK_ROWS = 50_000
GROUPS = 50
"""Groups per class. One isotropic Gaussian per class (an earlier version, noise 1.5) makes the
exact 20 nearest neighbours of a million points all but random within a class of ~48,000 in
128 dimensions: no ANN index finds them (IVF_FLAT's defaults found 0.42 of them), and real
embeddings are not like that (their neighbours are near duplicates and same-place scenes)."""
GROUP_SPREAD = 1.0
"""Per-dimension spread of a group's centre around its class's unit-variance centre."""
NOISE = 0.5
"""Per-dimension spread of an image around its group's centre: groups stay apart (about 25
apart within, 50 between groups, 70 between classes, in 1280 dimensions)."""


@dataclass(frozen=True)
class SyntheticArchive:
    """Ids, classes and memory-mapped features of ``n`` images; where they lie on disk."""

    folder: Path
    """A folder of empty ``<class>/<image>.jpg`` files (what services scanning it see)."""
    ids: list[str]
    classes: np.ndarray
    features: np.ndarray

    @property
    def archive(self) -> Archive:
        """The archive as the coordinator holds it (built from the ids, not a folder scan)."""
        return Archive(
            self.folder,
            [
                ArchiveImage(image_id, self.folder / image_id, image_id.split("/", 1)[0])
                for image_id in self.ids
            ],
        )


def row_classes(n: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """The class of each row, sorted (rows are in class order, as the folder lists them)."""
    return np.sort(rng.integers(clusters, size=n))


def image_ids(classes: np.ndarray) -> list[str]:
    return [f"c{int(c):03d}/img{row:07d}.jpg" for row, c in enumerate(classes)]


def write_features(path: Path, classes: np.ndarray, clusters: int, seed: int) -> None:
    """Class centre, group offset and Gaussian noise per row, chunk by chunk, into a ``.npy``
    file (each row's group drawn uniformly among its class's)."""
    rng = np.random.default_rng([seed, 1])
    centres = rng.standard_normal((clusters, FEATURE_DIM)).astype(np.float32)
    offsets = GROUP_SPREAD * rng.standard_normal((clusters, GROUPS, FEATURE_DIM), dtype=np.float32)
    partial = path.with_name(path.name + ".partial")
    out = np.lib.format.open_memmap(
        partial, mode="w+", dtype=np.float32, shape=(len(classes), FEATURE_DIM)
    )
    for start in range(0, len(classes), CHUNK_ROWS):
        rows = classes[start : start + CHUNK_ROWS]
        noise = rng.standard_normal((len(rows), FEATURE_DIM), dtype=np.float32)
        groups = rng.integers(GROUPS, size=len(rows))
        out[start : start + len(rows)] = centres[rows] + offsets[rows, groups] + NOISE * noise
    out.flush()
    del out
    partial.rename(path)


def write_folder(folder: Path, ids: list[str]) -> None:
    """One empty file per id; a marker file says the folder is complete."""
    done = folder / ".complete"
    if done.is_file():
        return
    for name in sorted({image_id.split("/", 1)[0] for image_id in ids}):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for image_id in ids:
        (folder / image_id).touch()
    done.touch()


def synthetic_archive(
    work: Path, n: int, clusters: int, seed: int, say: Callable[[str], None] = print
) -> SyntheticArchive:
    """Make (or reuse, from an earlier run with the same arguments) the archive under ``work``."""
    tag = f"n{n}-c{clusters}-g{GROUPS}-s{seed}"
    rng = np.random.default_rng([seed, 0])
    classes = row_classes(n, clusters, rng)
    ids = image_ids(classes)
    path = work / f"features-{tag}.npy"
    if not path.is_file():
        started = time.perf_counter()
        write_features(path, classes, clusters, seed)
        say(
            f"features: {n:,} x {FEATURE_DIM} float32 ({path.stat().st_size / 2**30:.2f} GiB)"
            f" written in {time.perf_counter() - started:.1f}s"
        )
    folder = work / f"archive-{tag}"
    started = time.perf_counter()
    write_folder(folder, ids)
    say(f"archive folder of {n:,} empty files ready in {time.perf_counter() - started:.1f}s")
    # Copy-on-write: writable for torch.from_numpy, never written back, pages shared with the
    # page cache until touched.
    features = np.load(path, mmap_mode="c")
    return SyntheticArchive(folder, ids, classes, features)
