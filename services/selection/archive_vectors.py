"""The embeddings of the archive images as one index version holds them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArchiveVectors:
    """Row i of ``matrix`` is the L2-normalised embedding of ``ids[i]`` in index ``version``."""

    ids: tuple[str, ...]
    matrix: np.ndarray
    version: int
    model_version: str

    def rows(self) -> dict[str, int]:
        """Image id -> row."""
        return {image_id: row for row, image_id in enumerate(self.ids)}
