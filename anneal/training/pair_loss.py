"""Losses on labelled pairs from pytorch-metric-learning, fed the pairs explicitly."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pytorch_metric_learning.losses import (
    BaseMetricLossFunction,
    CircleLoss,
    ContrastiveLoss,
    MultiSimilarityLoss,
)
from pytorch_metric_learning.reducers import MeanReducer

from anneal.errors import ConfigError
from anneal.training.config import TrainConfig


def contrastive(cfg: TrainConfig) -> BaseMetricLossFunction:
    """Hinge on the distance: similar pairs pulled inside pos_margin, dissimilar pushed beyond
    neg_margin. The mean reducer averages the similar and the dissimilar term each over its own
    pairs before adding them, so a set with 10% similar pairs pulls as hard as it pushes."""
    return ContrastiveLoss(
        pos_margin=cfg.pos_margin, neg_margin=cfg.neg_margin, reducer=MeanReducer()
    )


def multi_similarity(cfg: TrainConfig) -> BaseMetricLossFunction:
    """Wang et al. 2019, with the library's defaults: soft weights on the hardest pairs."""
    return MultiSimilarityLoss()


def circle(cfg: TrainConfig) -> BaseMetricLossFunction:
    """Sun et al. 2020, with the library's defaults: each similarity re-weighted by its
    distance from its optimum."""
    return CircleLoss()


PAIR_LOSSES: dict[str, Callable[[TrainConfig], BaseMetricLossFunction]] = {
    "contrastive": contrastive,
    "multi-similarity": multi_similarity,
    "circle": circle,
}


class PairLoss:
    """A pytorch-metric-learning loss over explicit (similar, dissimilar) pairs of a batch."""

    def __init__(self, loss: BaseMetricLossFunction | None = None) -> None:
        self.loss = loss or contrastive(TrainConfig())

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> PairLoss:
        if cfg.loss not in PAIR_LOSSES:
            raise ConfigError(
                f"unknown pair loss {cfg.loss!r}; choose from {', '.join(PAIR_LOSSES)}"
            )
        return cls(PAIR_LOSSES[cfg.loss](cfg))

    def __call__(
        self, embeddings: torch.Tensor, pairs: torch.Tensor, similar: torch.Tensor
    ) -> torch.Tensor:
        # Both directions: the anchor-based losses (multi-similarity, circle) count a pair from
        # each of its images; the contrastive mean is the same over duplicated pairs.
        both = torch.cat([pairs, pairs.flip(1)])
        twice = torch.cat([similar, similar])
        pos, neg = both[twice], both[~twice]
        indices = (pos[:, 0], pos[:, 1], neg[:, 0], neg[:, 1])
        return self.loss(embeddings, indices_tuple=indices)
