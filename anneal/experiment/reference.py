"""Reference lines for the learning curve: zero-shot and full supervision."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from anneal.al.pairs import unique_pairs
from anneal.eval.metrics import retrieval_metrics
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import ExperimentData


def class_pairs(labels: np.ndarray, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """About `n_pairs` distinct pairs of rows, half within a class and half across classes."""
    n = len(labels)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels)
    starts = np.cumsum(counts) - counts
    m = 2 * n_pairs
    x = rng.integers(n, size=m)
    cls = labels[x]
    same = np.stack([x, order[starts[cls] + (rng.random(m) * counts[cls]).astype(np.int64)]], 1)
    other = np.stack([rng.integers(n, size=m), rng.integers(n, size=m)], 1)
    other = other[labels[other[:, 0]] != labels[other[:, 1]]]
    same = unique_pairs(same, n)[: n_pairs // 2]
    other = unique_pairs(other, n)[: n_pairs - len(same)]
    return np.concatenate([same, other])


def full_supervision(cfg: ExperimentConfig, data: ExperimentData, seed: int = 0) -> dict[str, Any]:
    """The same model and trainer fed pairs derived from every class label of the archive part."""
    t = time.perf_counter()
    labels = data.archive_labels
    pairs = class_pairs(labels, cfg.full_supervision_pairs, np.random.default_rng(seed))
    similar = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    train = dataclasses.replace(cfg.train, epochs=cfg.full_supervision_epochs, max_steps=0)
    model, _ = data.archive_mode.fit(
        data.initial, pairs, similar, train, torch.Generator().manual_seed(seed)
    )
    archive = data.archive_mode.embeddings(model)
    queries = data.query_mode.embeddings(model)
    metrics = retrieval_metrics(queries, archive, data.query_labels, labels)
    return {"pairs": len(pairs), **metrics, "seconds": time.perf_counter() - t}


def zero_shot(data: ExperimentData) -> dict[str, float]:
    """Retrieval quality of the round-0 model (pretrained features, untrained head)."""
    archive = data.archive_mode.embeddings(data.initial)
    queries = data.query_mode.embeddings(data.initial)
    return retrieval_metrics(queries, archive, data.query_labels, data.archive_labels)
