"""One active-learning run (a strategy and a seed) as data plus the step that adds a round."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anneal.al.annotators.base import Annotator
from anneal.al.asking.base import Asking
from anneal.al.asking.once import AskOnce
from anneal.al.labelled_pairs import LabelledPairs
from anneal.al.pairs import PairLabel
from anneal.al.pool import PoolBuilder
from anneal.al.pseudo_labels import PseudoLabeller
from anneal.al.round_parameters import RoundParameters, round_generator
from anneal.al.selector import Selection
from anneal.al.stopping import StoppingRule
from anneal.al.strategies import make_selector
from anneal.al.training_pairs import TrainingPairs
from anneal.al.uncertainty.classifier import ClassifierUncertainty
from anneal.al.uncertainty.margin import MarginUncertainty
from anneal.errors import StateError
from anneal.eval.metrics import retrieval_metrics
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import ExperimentData
from anneal.experiment.signals import RoundAnswers, round_signals
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.model_version import ModelVersion
from anneal.state_files import read_json, write_json_atomic


@dataclass(frozen=True)
class Asked:
    """A round's questions and answers: the selection, the labelled pairs before and after (for
    the round's signals), and what the row reports about them."""

    selection: Selection
    answers: RoundAnswers
    info: dict[str, Any]


class ActiveLearner:
    """Selects, asks, trains and evaluates, one round per `step()`.

    Its state (labels stamped with their round, result rows, the model) is saved after every
    round, so a run resumes from the last complete round. Each round draws its randomness from
    generators seeded by (seed, round), which makes a resumed run identical to an unbroken one.
    """

    def __init__(
        self,
        strategy: str,
        seed: int,
        cfg: ExperimentConfig,
        data: ExperimentData,
        annotator: Annotator,
        state_dir: Path,
        asking: Asking | None = None,
    ) -> None:
        self.strategy, self.seed, self.cfg, self.data = strategy, seed, cfg, data
        self.annotator = annotator
        #: How questions are answered (noise, redundancy, re-asking): anneal/al/asking/.
        self.asking = asking or AskOnce(annotator)
        self.answers = 0  # answers bought so far (a panel or a re-ask costs more than one)
        self._setup_selection()
        # The BCGUE classifier whose confidence and calibration every run reports.
        self.classifier = ClassifierUncertainty(
            MarginUncertainty(), chunk=4096, calibration=cfg.calibration
        )
        self.stopping = StoppingRule(cfg.stop_agreement, cfg.stop_patience)
        pseudo = (
            PseudoLabeller(cfg.pseudo_labels, cfg.pseudo_confidence, pool=self._pool())
            if cfg.pseudo_labels > 0
            else None
        )
        self.composer = TrainingPairs(cfg.transitivity, cfg.implied_pairs, pseudo)
        self.ids = data.archive_ids
        self.index = {image_id: i for i, image_id in enumerate(self.ids)}
        self.state_dir = state_dir
        self.labels: list[PairLabel] = []
        self.rows: list[dict[str, Any]] = []
        self.round = 0  # rounds completed
        self.model = data.initial
        self.embeddings = data.archive_mode.embeddings(self.model)

    def _setup_selection(self) -> None:
        """Build what chooses the questions (a subclass asks other kinds of question)."""
        self.parameters = RoundParameters(self.strategy, self.cfg.budget, self.seed)
        self.selector = make_selector(
            self.parameters.strategy,
            self._pool(),
            self.cfg.diversity_multiple,
            self.cfg.calibration,
        )

    def _pool(self) -> PoolBuilder:
        return PoolBuilder(self.cfg.neighbours, self.cfg.random_per_image)

    @property
    def name(self) -> str:
        return f"{self.strategy}-seed{self.seed}"

    def evaluate(self) -> dict[str, float]:
        queries = self.data.query_mode.embeddings(self.model)
        return retrieval_metrics(
            queries, self.embeddings, self.data.query_labels, self.data.archive_labels
        )

    def zero_shot_row(self, metrics: dict[str, float]) -> dict[str, Any]:
        """The round-0 row of this run: no labels yet, the pretrained model's metrics."""
        return {**self._row(metrics, {}, 0, 0.0, {}), "round": 0, "labelled_pairs": 0}

    def _row(
        self,
        metrics: dict[str, float],
        seconds: dict[str, float],
        implied: int,
        similar_fraction: float,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "round": self.round,
            "labelled_pairs": len(self.labels),
            "implied_pairs": implied,
            "fraction_similar": similar_fraction,
            **metrics,
            **{f"seconds_{k}": v for k, v in seconds.items()},
            "threshold": info.get("threshold", float("nan")),
            "answers": self.answers,
            "wrong_labels": self._wrong_fraction(),
            **{k: v for k, v in info.items() if k.startswith("recheck")},
        }

    def _wrong_fraction(self) -> float:
        """Share of the labels so far that disagree with the class labels (annotator noise)."""
        if not self.labels:
            return 0.0
        known = LabelledPairs.from_labels(self.labels, self.index)
        truth = self.data.archive_labels
        same = truth[known.pairs[:, 0]] == truth[known.pairs[:, 1]]
        return float(np.mean(known.similar != same))

    def step(self) -> dict[str, Any]:
        """Run one round: select budget pairs, get answers, retrain from round 0, evaluate."""
        rng = round_generator(self.seed, self.round)  # keyed by rounds completed (from 0)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.round)
        asked = self.ask(rng)
        previous = self.embeddings
        pairs, similar, implied = self.training_pairs(rng)
        start = self.model if self.cfg.warm_start else self.data.initial
        self.model, report = self.data.archive_mode.fit(
            start, pairs, similar, self.cfg.train, generator
        )
        self.model.version = ModelVersion.trained(self.round + 1)
        t = time.perf_counter()
        self.embeddings = self.data.archive_mode.embeddings(self.model)
        metrics = self.evaluate()
        t_signals = time.perf_counter()
        signals = round_signals(
            previous,
            self.embeddings,
            asked.answers,
            self.classifier,
            self.cfg.stop_k,
            self.cfg.ece_bins,
        )
        seconds = {
            **asked.selection.seconds,
            "training": report.seconds,
            "evaluation": t_signals - t,
            "signals": time.perf_counter() - t_signals,
        }
        self.round += 1
        row = self._row(metrics, seconds, implied, self.fraction_similar(), asked.info)
        agreements = [r.get("topk_agreement", np.nan) for r in self.rows] + [
            signals["topk_agreement"]
        ]
        row.update(signals, stop_rule_fires=self.stopping.stop_round(agreements) == self.round)
        self.rows.append(row)
        self.save()
        return row

    def ask(self, rng: np.random.Generator) -> Asked:
        """Select this round's questions and record the answers (through ``self.asking``)."""
        known = LabelledPairs.from_labels(self.labels, self.index)
        pairs, similar = known.pairs, known.similar
        budget = self.parameters.budget
        new = self.asking.new_pairs(budget)
        selection = self.selector.select(self.embeddings, pairs, similar, new, rng)
        questions = [(self.ids[a], self.ids[b]) for a, b in selection.pairs]
        answered = self.asking.ask(
            questions, selection.pairs, self.embeddings, pairs, similar, self.round + 1, budget
        )
        self.labels.extend(answered.labels)
        self.answers += answered.answers
        now = LabelledPairs.from_labels(answered.labels, self.index)
        return Asked(
            selection,
            RoundAnswers(pairs, similar, now.pairs, now.similar),
            {**selection.info, **answered.info},
        )

    def training_pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """Pairs and bits to train on, and how many of them were not asked (implied by
        transitivity, or pseudo-labels): anneal/al/training_pairs.py."""
        known = LabelledPairs.from_labels(self.labels, self.index)
        chosen = self.composer.compose(
            len(self.ids), known.pairs, known.similar, rng, self.embeddings
        )
        return chosen.pairs, chosen.similar, chosen.not_asked

    def fraction_similar(self) -> float:
        """Share of 'similar' among the answers so far."""
        return float(np.mean([x.similar for x in self.labels]))

    # --- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "round": self.round,
            "config": self.cfg.to_dict(),
            "labels": [x.to_dict() for x in self.labels],
            "rows": self.rows,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["strategy"], state["seed"]) != (self.strategy, self.seed):
            raise StateError(f"saved state is for {state['strategy']} seed {state['seed']}")
        if state["config"] != self.cfg.to_dict():
            raise StateError(
                f"saved state in {self.state_dir} was made with another configuration; "
                "start a new run (another --run name) or resume with the same options"
            )
        self.round = int(state["round"])
        self.labels = [PairLabel.from_dict(x) for x in state["labels"]]
        self.rows = list(state["rows"])
        self.answers = int(self.rows[-1].get("answers", len(self.labels))) if self.rows else 0
        if self.round > 0:
            self.model = EmbeddingModel.load(
                self._model_path(self.round), backbone=self.data.initial.backbone
            )
            self.embeddings = self.data.archive_mode.embeddings(self.model)

    @property
    def _state_path(self) -> Path:
        return self.state_dir / f"{self.name}.json"

    def _model_path(self, round: int) -> Path:
        return self.state_dir / f"{self.name}.round{round}.model.pt"

    def save(self) -> None:
        """Model first, then the state that names its round; both written atomically, so a
        crash between the two leaves the previous round's state and model intact."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.model.save(
            self._model_path(self.round),
            include_backbone=self.data.archive_mode.include_backbone_in_checkpoint,
        )
        write_json_atomic(self._state_path, self.state_dict())
        self._model_path(self.round - 1).unlink(missing_ok=True)

    def resume(self) -> bool:
        """Load saved state if there is any; True when it did."""
        if not self._state_path.is_file():
            return False
        self.load_state_dict(read_json(self._state_path))
        return True
