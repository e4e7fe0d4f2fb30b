"""What an experiment's answers cost: bits of information and seconds of annotator time.

A pair answer ("are these two images similar?") is one bit. A class label picks one of C classes
and carries log2(C) bits. Seconds are a linear model, a constant per answer of each kind; the
constants are settings (ExperimentConfig.seconds_per_pair, .seconds_per_class_label) and their
defaults, with where they come from, are described in docs/method.md ("Annotation cost").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CostModel:
    """Bits and seconds of `pairs` pair answers plus `class_labels` class labels."""

    classes: int
    seconds_per_pair: float
    seconds_per_class_label: float

    def __post_init__(self) -> None:
        if self.classes < 2:
            raise ValueError(f"a class label needs at least 2 classes, got {self.classes}")

    @property
    def bits_per_class_label(self) -> float:
        return math.log2(self.classes)

    def bits(self, pairs: int, class_labels: int = 0) -> float:
        return pairs + class_labels * self.bits_per_class_label

    def seconds(self, pairs: int, class_labels: int = 0) -> float:
        return pairs * self.seconds_per_pair + class_labels * self.seconds_per_class_label


def with_costs(rows: list[dict[str, Any]], model: CostModel) -> list[dict[str, Any]]:
    """Each result row with `annotation_bits` and `annotation_seconds` added.

    A row's answers are its `labelled_pairs` pair answers and its `class_labels` class labels
    (absent means none)."""
    out = []
    for row in rows:
        pairs, labels = int(row["labelled_pairs"]), int(row.get("class_labels", 0))
        out.append(
            {
                **row,
                "annotation_bits": model.bits(pairs, labels),
                "annotation_seconds": model.seconds(pairs, labels),
            }
        )
    return out
