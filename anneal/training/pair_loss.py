"""Contrastive loss on labelled pairs, with similar and dissimilar pairs weighted equally."""

from __future__ import annotations

import torch
from pytorch_metric_learning.losses import ContrastiveLoss
from pytorch_metric_learning.reducers import MeanReducer


class PairContrastiveLoss:
    """pytorch-metric-learning's contrastive loss fed explicit pairs.

    The mean reducer averages the similar-pair term and the dissimilar-pair term each over its
    own pairs before adding them, so a labelled set with, say, 10% similar pairs still pulls
    similar pairs together as hard as it pushes dissimilar ones apart.
    """

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0) -> None:
        self.loss = ContrastiveLoss(
            pos_margin=pos_margin, neg_margin=neg_margin, reducer=MeanReducer()
        )

    def __call__(
        self, embeddings: torch.Tensor, pairs: torch.Tensor, similar: torch.Tensor
    ) -> torch.Tensor:
        pos, neg = pairs[similar], pairs[~similar]
        indices = (pos[:, 0], pos[:, 1], neg[:, 0], neg[:, 1])
        return self.loss(embeddings, indices_tuple=indices)
