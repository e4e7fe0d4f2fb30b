"""Seeded, stratified split of a labelled archive into a retrieval archive and queries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Split:
    """Row indices into the full archive: `archive` is what AL sees, `queries` evaluate it."""

    archive: np.ndarray
    queries: np.ndarray


def stratified_split(labels: np.ndarray, query_fraction: float = 0.2, seed: int = 0) -> Split:
    """Split rows so every class keeps the same share in both parts; same seed, same split."""
    if not 0.0 < query_fraction < 1.0:
        raise ValueError(f"query_fraction must be in (0, 1), got {query_fraction}")
    rows = np.arange(len(labels))
    archive, queries = train_test_split(
        rows, test_size=query_fraction, random_state=seed, stratify=labels, shuffle=True
    )
    return Split(archive=np.sort(archive), queries=np.sort(queries))
