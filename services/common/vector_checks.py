"""The one check of vectors that come in from outside: finite, and small enough to score.

Scores are float32: an inner product is at most |q| |v| and a squared L2 distance at most
2 |q|^2 + 2 |v|^2, so with every norm below :data:`MAX_NORM` (sqrt of a quarter of the float32
maximum, about 9.2e18) no score can overflow to infinity. A query vector of 128 x 3e38 is finite
in float32 but its norm is not; it is refused here rather than answered with infinite scores.
Used for Retrieve by vector, Search queries and BuildIndex rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_NORM = float(np.sqrt(np.finfo(np.float32).max / 4))


def check_vectors(matrix: np.ndarray, name: Callable[[int], str]) -> None:
    """Refuses (ValueError) a row of ``matrix`` that is not finite or whose norm is at least
    :data:`MAX_NORM`; ``name(row)`` names the row in the message (``query vector 2``)."""
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name(row)} holds NaN or infinity; send finite values")
    norms = np.sqrt(np.square(matrix.astype(np.float64)).sum(axis=1))
    over = norms >= MAX_NORM
    if over.any():
        row = int(np.flatnonzero(over)[0])
        raise ValueError(
            f"{name(row)} has norm {norms[row]:.3g}, over the limit of {MAX_NORM:.3g} (its scores"
            " would overflow float32); scale it down, e.g. to unit length"
        )
