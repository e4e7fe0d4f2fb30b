"""A fixed coin per (annotator seed, pair): the randomness of simulated noisy annotators.

Drawing the coin from a hash of the seed and the pair's two ids (not from a generator that
advances with each call) makes an annotator's answer to a pair independent of the order and
batching of the questions, so a resumed experiment is identical to an unbroken one, and asking
one annotator the same pair twice gives the same answer, as a person who remembers would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def pair_uniforms(seed: int, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """One uniform number in [0, 1) per pair, fixed by `seed` and the unordered pair."""
    out = np.empty(len(pairs), dtype=np.float64)
    for i, (a, b) in enumerate(pairs):
        first, second = (a, b) if a <= b else (b, a)
        key = f"{seed}\0{first}\0{second}".encode()
        out[i] = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2.0**64
    return out
