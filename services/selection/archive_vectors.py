"""The embeddings of the archive images as one index version holds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common.errors import FailedPreconditionError


@dataclass(frozen=True)
class ArchiveVectors:
    """Row i of ``matrix`` is the L2-normalised embedding of ``ids[i]`` in index ``version``."""

    ids: tuple[str, ...]
    matrix: np.ndarray
    version: int
    model_version: str

    @classmethod
    def of_archive(
        cls,
        archive_ids: Sequence[str],
        ids: Sequence[str],
        matrix: np.ndarray,
        version: int,
        model_version: str,
    ) -> ArchiveVectors:
        """The rows of ``matrix`` (row i: ``ids[i]``) of the archive's images, in the archive's
        order, so the rows, and with them the selected pairs, do not depend on the order the
        version lists them in. ``matrix`` itself when it is that already (no copy: a mapped
        file stays mapped). FailedPreconditionError when fewer than 2 are there."""
        if tuple(archive_ids) == tuple(ids):  # the version lists the archive as it is
            found: Sequence[str] = ids
            kept = matrix
        else:
            rows = {image_id: row for row, image_id in enumerate(ids)}
            found = [image_id for image_id in archive_ids if image_id in rows]
            kept = matrix[[rows[image_id] for image_id in found]]
        if len(found) < 2:
            raise FailedPreconditionError(
                f"index version {version} holds {len(found)} of the archive's images; at least"
                " 2 are needed to form pairs"
            )
        return cls(tuple(found), kept, version, model_version)

    def rows(self) -> dict[str, int]:
        """Image id -> row."""
        return {image_id: row for row, image_id in enumerate(self.ids)}
