"""Pair-training settings shared by experiments and the coordinator service."""

from __future__ import annotations

from dataclasses import dataclass

from anneal.errors import ConfigError

#: What a round trains (anneal/training/modes.py): the head on cached features, or backbone and
#: head on images.
TRAINING_MODES = ("head", "full")


def check_mode(mode: str) -> None:
    """ConfigError unless ``mode`` is one of :data:`TRAINING_MODES`."""
    if mode not in TRAINING_MODES:
        raise ConfigError(
            f"unknown training mode {mode!r}; choose one of {', '.join(TRAINING_MODES)}"
        )


@dataclass
class TrainConfig:
    """Margins are on the L2 distance of unit vectors (0..2). Pulling similar pairs only
    inside 0.8 and pushing dissimilar ones only beyond 1.2 changes the space just where pairs
    sit on the wrong side of the similar/dissimilar threshold (about 1.0 for the pretrained
    features), which keeps early rounds from distorting it (measured in docs/BENCHMARKS.md).
    Every round trains a fresh copy of the round-0 model. `max_steps` > 0 caps the
    `epochs` passes at that many optimiser steps, so round time stops growing with the labels
    (a small set still gets its full passes)."""

    epochs: int = 20
    max_steps: int = 300
    lr: float = 1e-3
    #: Below this many training pairs per archive image the learning rate shrinks with
    #: sqrt(pairs / (pairs_per_image * images)): Adam moves every weight by about lr a step
    #: whatever its gradient, and a head of 1.6M weights trained on 20 answers about 1,653 UC
    #: Merced images drifts below zero-shot at full rate (0 = off; 0.6 is 1,000 pairs there).
    lr_pairs_per_image: float = 0.6
    batch_pairs: int = 256
    pos_margin: float = 0.8
    neg_margin: float = 1.2
    #: Pair loss (anneal/training/pair_loss.py PAIR_LOSSES); the margins are the contrastive one's.
    loss: str = "contrastive"
