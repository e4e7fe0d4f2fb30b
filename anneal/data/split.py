"""Stable split of an archive into a retrieval archive and queries, decided per image.

An image is a query when ``u = blake2b(f"{seed}:{image_id}") / 2**64 < query_fraction``. The
decision reads nothing but the image's own id and the seed, so adding, removing or re-ordering
other images never moves an image between the parts, and results measured before and after the
archive grew stay comparable on the images they share. This is the only way to guarantee it
without stored state: if membership may not change when any image is added, it cannot depend
on the other images at all. The price is that stratification is statistical, not exact: a class
of n images gets Binomial(n, query_fraction) queries (docs/method.md, "The split", gives the
tolerance and the figures for UC Merced-sized classes; :func:`query_share_per_class` reports it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Per-class tolerance in standard deviations of Binomial(n, fraction), plus one image.
TOLERANCE_SIGMAS = 3.0


@dataclass(frozen=True)
class Split:
    """Row indices into the full archive: `archive` is what AL sees, `queries` evaluate it."""

    archive: np.ndarray
    queries: np.ndarray


def image_draw(image_id: str, seed: int) -> float:
    """The image's uniform draw in [0, 1), a pure function of its id and the seed."""
    digest = hashlib.blake2b(f"{seed}:{image_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def stable_split(ids: Sequence[str], query_fraction: float = 0.2, seed: int = 0) -> Split:
    """Rows whose draw is below `query_fraction` are queries, the others the archive.

    Same ids and seed, same split; a different seed draws again. Raises ValueError for a fraction
    outside (0, 1), repeated ids, or a split that leaves either part empty (too few images).
    """
    if not 0.0 < query_fraction < 1.0:
        raise ValueError(f"query_fraction must be in (0, 1), got {query_fraction}")
    if len(set(ids)) != len(ids):
        raise ValueError("image ids must be unique to split an archive by id")
    is_query = np.array([image_draw(i, seed) < query_fraction for i in ids], dtype=bool)
    if is_query.all() or not is_query.any():
        raise ValueError(
            f"splitting {len(ids)} images at query_fraction {query_fraction} (seed {seed}) "
            "left no queries or no archive; add images or choose another fraction or seed"
        )
    rows = np.arange(len(ids))
    return Split(archive=rows[~is_query], queries=rows[is_query])


def query_share_per_class(split: Split, labels: np.ndarray) -> np.ndarray:
    """Fraction of each class's images (by label index) that the split made queries."""
    total = np.bincount(labels, minlength=int(labels.max()) + 1)
    queries = np.bincount(labels[split.queries], minlength=len(total))
    return np.divide(queries, total, out=np.zeros(len(total)), where=total > 0)


def class_tolerance(class_size: int, query_fraction: float) -> float:
    """Documented bound on |queries - fraction * n| for one class of n images, in images."""
    sigma = float(np.sqrt(class_size * query_fraction * (1.0 - query_fraction)))
    return TOLERANCE_SIGMAS * sigma + 1.0
