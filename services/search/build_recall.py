"""Recall of a freshly built ANN index against exact search over the rows it was built from.

At build time the rows are in memory, so exact neighbours cost one matrix product per chunk of
rows (numpy), and the ANN index is asked the same probes through the query path. A fixed seed
picks the probes (stored vectors: queries by archive image are the common kind), so the same
rows and parameters give the same figure every build.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.search.vector_searcher import VectorSearcher

RECALL_K = 20
RECALL_PROBES = 200
RECALL_SEED = 20_261_202
_EXACT_CHUNK_ROWS = 65_536
"""Rows scored per numpy product: 200 probes x 65,536 rows of scores is 52 MB."""


def probe_rows(count: int) -> np.ndarray:
    """The rows used as probes: up to RECALL_PROBES of ``count``, fixed by RECALL_SEED."""
    picks = np.random.default_rng(RECALL_SEED).choice(
        count, min(RECALL_PROBES, count), replace=False
    )
    return np.sort(picks)


def exact_neighbours(vectors: np.ndarray, probes: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Row indices of the k exact nearest rows of ``vectors`` to each probe (any order)."""
    if metric == "COSINE":
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
        probes = probes / np.maximum(np.linalg.norm(probes, axis=1, keepdims=True), 1e-30)
    best_scores: np.ndarray = np.full((len(probes), 0), -np.inf, dtype=np.float32)
    best_rows: np.ndarray = np.zeros((len(probes), 0), dtype=np.int64)
    for start in range(0, len(vectors), _EXACT_CHUNK_ROWS):
        chunk = vectors[start : start + _EXACT_CHUNK_ROWS]
        scores = probes @ chunk.T  # higher is closer for IP and COSINE
        if metric == "L2":  # -|p - x|^2 without the probe's own norm, which ranks nothing
            scores = 2 * scores - np.einsum("ij,ij->i", chunk, chunk)[None, :]
        top = _top(scores, k)
        scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        rows = np.concatenate([best_rows, start + top], axis=1)
        keep = _top(scores, k)
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_rows = np.take_along_axis(rows, keep, axis=1)
    return best_rows


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k highest scores (all where fewer), in no order."""
    if scores.shape[1] <= k:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def measure_recall(
    searcher: VectorSearcher,
    collection: str,
    ids: Sequence[str],
    vectors: np.ndarray,
    metric: str,
    search_params: dict[str, int | float | str],
    timeout_s: float,
) -> float:
    """Mean fraction of the exact top-k (k = RECALL_K, or the row count if smaller) that
    ``collection`` returns for the probes, searched with ``search_params``."""
    k = min(RECALL_K, len(ids))
    picks = probe_rows(len(ids))
    probes = vectors[picks]
    exact = exact_neighbours(vectors, probes, k, metric)
    found = searcher.search(collection, probes, k, metric, search_params, False, timeout_s)
    hits = [
        len({ids[row] for row in truth} & {hit.image_id for hit in row_hits})
        for truth, row_hits in zip(exact, found, strict=True)
    ]
    return float(np.sum(hits) / (k * len(picks)))
