"""What a selection step sees: the current metric space, the pool and the labels so far."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SelectionContext:
    """Inputs of one selection; `rng` is the round's own generator."""

    embeddings: np.ndarray  # (N, D), L2-normalised
    pool: np.ndarray  # (P, 2) canonical candidate pairs
    labelled: np.ndarray  # (L, 2) canonical labelled pairs
    similar: np.ndarray  # (L,) bool
    rng: np.random.Generator
    #: Diagnostics a part wants reported (e.g. the threshold it used).
    info: dict[str, float | str] = field(default_factory=dict)
