"""Checks of search input: k and the query vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.common.vector_checks import check_vectors

MAX_K = 1000


def check_k(k: int) -> None:
    """k must be 1..MAX_K."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")


def as_queries(vectors: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Query vectors as a float32 (Q, D) array; one vector (D,) becomes (1, D)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"query vectors must be a non-empty (Q, D) array, got {matrix.shape}")
    check_vectors(matrix, lambda row: f"query vector {row}")
    return matrix
