"""Archive images by id, read by the service so callers can embed the archive without sending it."""

from __future__ import annotations

from pathlib import Path

from anneal.data.archive import Archive
from services.common.errors import NotFoundError
from services.common.shown import shown
from services.embedding.errors import NoArchiveError


class ArchiveImages:
    """The encoded bytes of archive images, by id; an empty archive refuses every id."""

    def __init__(self, archive: Archive | None) -> None:
        self._archive = archive

    @classmethod
    def open(cls, folder: str) -> ArchiveImages:
        """Scans ``folder`` (empty string: no archive)."""
        return cls(Archive.from_folder(Path(folder)) if folder else None)

    def read(self, image_id: str) -> bytes:
        if self._archive is None:
            raise NoArchiveError(
                f"archive image {shown(image_id)} requested but the service has no archive;"
                " start it with --archive (ANNEAL_ARCHIVE) or send the image bytes"
            )
        try:
            row = self._archive.index_of(image_id)
        except KeyError as exc:
            raise NotFoundError(str(exc.args[0])) from None
        return self._archive.images[row].path.read_bytes()
