"""What a re-embedder is given: archive images as the workspace holds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ImagesToEmbed:
    """Archive images for a re-embedder, in one order: their ids, backbone features (rows) and
    files; each re-embedder reads what it needs (services/coordinator/reembedder.py)."""

    ids: Sequence[str]
    features: np.ndarray
    paths: Sequence[Path]
