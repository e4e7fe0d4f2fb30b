"""The class-label baseline as a run: ask `budget` images for their class each round.

Everything but the question is the ActiveLearner's: the same model, trainer, rounds, state and
evaluation. The metric model learns from the pairs the class labels imply: every pair of
labelled images (same class = similar) while there are at most `cfg.full_supervision_pairs` of
them, beyond that a class-balanced sample of that many (reference.class_pairs, as full
supervision does), so round time stays bounded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from anneal.al.annotators.base import Annotator
from anneal.al.annotators.class_oracle import SimulatedClassOracle
from anneal.al.asking.base import Asking
from anneal.al.class_labels import CLASS_LABEL_STRATEGIES, ClassLabelSelector
from anneal.al.selector import Selection
from anneal.experiment.annotators import SimulatedAnnotators
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import ExperimentData
from anneal.experiment.learner import ActiveLearner, Asked
from anneal.experiment.reference import class_pairs
from anneal.experiment.signals import RoundAnswers


class ClassLabelLearner(ActiveLearner):
    """An ActiveLearner whose answers are class labels of images instead of pair bits."""

    def _setup_selection(self) -> None:
        self.chooser = ClassLabelSelector(CLASS_LABEL_STRATEGIES[self.strategy])
        self.class_oracle = SimulatedClassOracle(
            {image.id: str(image.label) for image in self.data.archive.images}
        )
        #: (image id, class, round) in the order asked.
        self.classified: list[tuple[str, str, int]] = []
        self._similar_fraction = float("nan")

    def _labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Archive rows of the labelled images and their class codes."""
        rows = np.array([self.index[i] for i, _, _ in self.classified], dtype=np.int64)
        _, codes = np.unique([c for _, c, _ in self.classified], return_inverse=True)
        return rows, codes.astype(np.int64).reshape(-1)

    def ask(self, rng: np.random.Generator) -> Asked:
        t = time.perf_counter()
        rows, codes = self._labelled()
        budget = self.cfg.budget_of(self.strategy)
        picked = self.chooser.select(self.embeddings, rows, codes, budget, rng)
        images = [self.ids[int(r)] for r in picked]
        answers = self.class_oracle.classify(images)
        self.classified.extend((i, c, self.round + 1) for i, c in zip(images, answers, strict=True))
        self.answers += len(images)
        selection = Selection(
            pairs=np.empty((0, 2), np.int64),
            scores=np.empty(0),
            pool_size=len(self.ids) - len(rows),
            seconds={"pool": 0.0, "selection": time.perf_counter() - t},
        )
        no_pairs = np.empty((0, 2), np.int64)
        no_bits = np.empty(0, dtype=bool)
        # No pair answers: the pair signals that need them (ECE) are NaN for this baseline.
        return Asked(selection, RoundAnswers(no_pairs, no_bits, no_pairs, no_bits), selection.info)

    def training_pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        rows, codes = self._labelled()
        k = len(rows)
        if k * (k - 1) // 2 <= self.cfg.full_supervision_pairs:
            a, b = np.triu_indices(k, 1)
            local = np.stack([a, b], 1).astype(np.int64)
        else:
            local = class_pairs(codes, self.cfg.full_supervision_pairs, rng)
        similar = codes[local[:, 0]] == codes[local[:, 1]]
        self._similar_fraction = float(similar.mean()) if len(similar) else float("nan")
        return np.sort(rows[local], axis=1), similar, len(local)

    def fraction_similar(self) -> float:
        return self._similar_fraction

    def _row(
        self,
        metrics: dict[str, float],
        seconds: dict[str, float],
        implied: int,
        similar_fraction: float,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        row = super()._row(metrics, seconds, implied, similar_fraction, info)
        return {**row, "class_labels": len(self.classified), "unit": "class label"}

    def zero_shot_row(self, metrics: dict[str, float]) -> dict[str, Any]:
        return {**super().zero_shot_row(metrics), "class_labels": 0}

    def state_dict(self) -> dict[str, Any]:
        classified = [{"image": i, "class": c, "round": r} for i, c, r in self.classified]
        return {**super().state_dict(), "classified": classified}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.classified = [(x["image"], x["class"], int(x["round"])) for x in state["classified"]]


def make_learner(
    strategy: str,
    seed: int,
    cfg: ExperimentConfig,
    data: ExperimentData,
    annotator: Annotator,
    state_dir: Path,
    asking: Asking | None = None,
) -> ActiveLearner:
    """The run for a strategy name: class-label strategies ask classes (from the class oracle),
    the others pairs (through ``asking``: noise, redundancy, re-asking)."""
    if strategy in CLASS_LABEL_STRATEGIES:
        return ClassLabelLearner(strategy, seed, cfg, data, annotator, state_dir)
    return ActiveLearner(strategy, seed, cfg, data, annotator, state_dir, asking)


def make_learners(
    cfg: ExperimentConfig, data: ExperimentData, state_dir: Path
) -> list[ActiveLearner]:
    """One run per strategy and seed, in that order, answered by the configured simulated
    annotators (anneal/experiment/annotators.py)."""
    annotators = SimulatedAnnotators(cfg, data)
    return [
        make_learner(
            strategy, seed, cfg, data, annotators.oracle, state_dir, annotators.asking(seed)
        )
        for strategy in cfg.strategies
        for seed in range(cfg.seeds)
    ]
