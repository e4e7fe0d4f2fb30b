"""Retrieval metrics on ranked lists.

For a query q with ranked list r_1..r_k and rel_i = 1 when r_i has the query's class:

    P@i(q)   = (1/i) * sum_{j<=i} rel_j
    AP@k(q)  = (1/R_k(q)) * sum_{i<=k} P@i(q) * rel_i,   R_k(q) = sum_{i<=k} rel_i  (0 if R_k = 0)
    mAP@k    = mean over queries of AP@k(q)

R_k is the number of relevant images retrieved in the top k, the normalisation used in the RS
CBIR literature (e.g. the ANNEAL paper's experiments). A query with no relevant image in its
top k scores 0.
"""

from __future__ import annotations

import numpy as np


def rank(queries: np.ndarray, archive: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k archive embeddings most similar (inner product) to each query, best first."""
    k = min(k, archive.shape[0])
    scores = queries @ archive.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def relevance(
    ranked: np.ndarray, query_labels: np.ndarray, archive_labels: np.ndarray
) -> np.ndarray:
    """Boolean (Q, k): whether each retrieved image shares the query's class."""
    return archive_labels[ranked] == query_labels[:, None]


def average_precision_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """AP@k per query from a boolean relevance matrix (Q, >=k)."""
    rel = rel[:, :k].astype(np.float64)
    hits = np.cumsum(rel, axis=1)
    precision = hits / np.arange(1, rel.shape[1] + 1)
    retrieved = hits[:, -1]
    total = (precision * rel).sum(axis=1)
    return np.divide(total, retrieved, out=np.zeros_like(total), where=retrieved > 0)


def precision_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """P@k per query."""
    return rel[:, :k].mean(axis=1)


def retrieval_metrics(
    queries: np.ndarray,
    archive: np.ndarray,
    query_labels: np.ndarray,
    archive_labels: np.ndarray,
    ks: tuple[int, ...] = (10, 20, 100),
    precision_ks: tuple[int, ...] = (20,),
) -> dict[str, float]:
    """mAP@k and P@k of ranking the archive for each query by inner product."""
    ranked = rank(queries, archive, max((*ks, *precision_ks)))
    rel = relevance(ranked, query_labels, archive_labels)
    out = {f"map@{k}": float(average_precision_at_k(rel, k).mean()) for k in ks}
    out.update({f"p@{k}": float(precision_at_k(rel, k).mean()) for k in precision_ks})
    return out
