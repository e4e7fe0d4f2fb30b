"""What a search or a vector look-up returns, tagged with the index version that answered."""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hit:
    """One neighbour. ``score`` is higher for closer images whatever the metric (L2 is negated)."""

    image_id: str
    score: float
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits per query vector, best first, all from the same index version."""

    version: int
    model_version: str
    hits: list[list[Hit]]


@dataclass(frozen=True)
class StoredVector:
    """An archive image's stored embedding and metadata in the serving version."""

    image_id: str
    vector: np.ndarray
    metadata: Mapping[str, str]
    version: int
    model_version: str
