"""An archive: a folder of images, labelled when they sit in class subfolders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anneal.data.image_io import IMAGE_SUFFIXES
from anneal.errors import ArchiveError


def _image_files(folder: str, prefix: tuple[str, ...], found: list[tuple[str, ...]]) -> None:
    """Append the path components (below the root) of every image file under ``folder``.

    ``os.scandir`` rather than ``Path.rglob``: its entries carry their type, so a million files
    are listed in seconds, not the 40 s rglob, ``is_file`` and ``relative_to`` took here.
    As with ``rglob``, a symbolic link to a folder is not followed; one to a file is.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _image_files(entry.path, (*prefix, entry.name), found)
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                found.append((*prefix, entry.name))


def _scan(root: Path) -> list[tuple[str, ...]]:
    """The path components of the archive's images, sorted as paths are; ArchiveError if the
    folder is missing or holds none."""
    if not root.is_dir():
        raise ArchiveError(f"archive folder {root} does not exist or is not a folder")
    found: list[tuple[str, ...]] = []
    _image_files(str(root), (), found)
    if not found:
        raise ArchiveError(
            f"archive folder {root} holds no JPEG, PNG or TIFF image; "
            "point --archive to a folder of images"
        )
    found.sort()
    return found


def image_ids(root: str | Path) -> list[str]:
    """The ids of the archive's images, in archive order, without building :class:`Archive`
    (a million paths take ~20 s to make here; ids alone, the few seconds of the scan)."""
    return ["/".join(parts) for parts in _scan(Path(root))]


@dataclass(frozen=True)
class ArchiveImage:
    """One image: a stable id (its path relative to the archive root), its path, its class."""

    id: str
    path: Path
    label: str | None = None


class Archive:
    """An ordered list of images; position i is the row of image i in every embedding matrix."""

    def __init__(self, root: Path, images: Sequence[ArchiveImage]) -> None:
        self.root = Path(root)
        self.images: list[ArchiveImage] = list(images)
        self._index = {image.id: i for i, image in enumerate(self.images)}

    @classmethod
    def from_folder(cls, root: str | Path) -> Archive:
        """Scan a folder. `<class>/<file>` everywhere makes a labelled archive; else unlabelled."""
        root = Path(root)
        found = _scan(root)
        labelled = all(len(parts) == 2 for parts in found)
        images = [
            ArchiveImage(
                id="/".join(parts),
                path=root.joinpath(*parts),
                label=parts[0] if labelled else None,
            )
            for parts in found
        ]
        return cls(root, images)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def ids(self) -> list[str]:
        return [image.id for image in self.images]

    @property
    def is_labelled(self) -> bool:
        return all(image.label is not None for image in self.images)

    @property
    def classes(self) -> list[str]:
        return sorted({image.label for image in self.images if image.label is not None})

    def labels(self) -> np.ndarray:
        """Integer class index per image; ArchiveError for an unlabelled archive."""
        if not self.is_labelled:
            raise ArchiveError(
                f"archive {self.root} has no class subfolders; class labels are needed for "
                "simulated annotation and evaluation"
            )
        lookup = {name: i for i, name in enumerate(self.classes)}
        return np.array([lookup[image.label] for image in self.images], dtype=np.int64)  # type: ignore[index]

    def index_of(self, image_id: str) -> int:
        """Row of an image id; KeyError naming the id if it is not in the archive."""
        try:
            return self._index[image_id]
        except KeyError:
            raise KeyError(f"image id {image_id!r} is not in archive {self.root}") from None

    def subset(self, rows: Sequence[int] | np.ndarray) -> Archive:
        """The archive restricted to the given rows, in that order."""
        return Archive(self.root, [self.images[int(i)] for i in rows])
