"""The simulated annotators of an experiment, built from its configuration.

Noise model ``flip``: each answer is flipped with probability ``flip_rate``. ``boundary``: the
flip probability of a pair depends on its two classes, from the zero-shot model's confusion
(:mod:`anneal.al.annotators.boundary`), with mean ``flip_rate`` over the archive's pairs.
Annotator ``j`` of run seed ``s`` flips on its own coins (seed ``1000 * s + j``), so every
annotator of every run errs independently. With ``annotators_per_pair`` k > 1 a panel of k
answers every pair (k answers per pair); with ``recheck_fraction`` > 0 the second and third
annotators re-ask suspects (:mod:`anneal.al.asking.recheck`).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from anneal.al.annotators.base import Annotator
from anneal.al.annotators.boundary import BoundaryAnnotator, flip_probabilities
from anneal.al.annotators.flip import FlipAnnotator
from anneal.al.annotators.panel import AnnotatorPanel
from anneal.al.annotators.simulated import SimulatedOracle
from anneal.al.asking.base import Asking
from anneal.al.asking.once import AskOnce
from anneal.al.asking.recheck import Recheck
from anneal.al.resolution import MajorityVote
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.confusion import neighbour_confusion
from anneal.experiment.data import ExperimentData


class SimulatedAnnotators:
    """Builds each run's Asking; the confusion matrix is computed once, when first needed."""

    def __init__(self, cfg: ExperimentConfig, data: ExperimentData) -> None:
        self.cfg, self.data = cfg, data
        self.ids = data.archive_ids
        self.classes = {i: int(c) for i, c in zip(self.ids, data.archive_labels, strict=True)}
        self.oracle = SimulatedOracle({i: str(c) for i, c in self.classes.items()})

    @cached_property
    def flip(self) -> np.ndarray:
        """(C, C) flip probabilities of the boundary model."""
        zero_shot = self.data.archive_mode.embeddings(self.data.initial)
        labels = self.data.archive_labels
        confusion = neighbour_confusion(zero_shot, labels, self.cfg.neighbours)
        counts = np.bincount(labels, minlength=confusion.shape[0])
        return flip_probabilities(confusion, counts, self.cfg.flip_rate)

    def annotator(self, seed: int, j: int) -> Annotator:
        """Annotator j of the run with this seed."""
        coin, name = 1000 * seed + j, f"simulated-{self.cfg.noise}-{j}"
        if self.cfg.flip_rate == 0.0:
            return self.oracle
        if self.cfg.noise == "boundary":
            return BoundaryAnnotator(self.classes, self.flip, coin, name)
        return FlipAnnotator(self.oracle, self.cfg.flip_rate, coin, name)

    def asking(self, seed: int) -> Asking:
        """How the run with this seed gets its answers."""
        cfg, rule = self.cfg, MajorityVote()
        if cfg.recheck_fraction > 0:
            first, second, third = (self.annotator(seed, j) for j in range(3))
            return Recheck(first, second, third, cfg.recheck_fraction, rule)
        if cfg.annotators_per_pair == 1:
            return AskOnce(self.annotator(seed, 0))
        members = [self.annotator(seed, j) for j in range(cfg.annotators_per_pair)]
        return AskOnce(AnnotatorPanel(members, rule), cfg.annotators_per_pair)
