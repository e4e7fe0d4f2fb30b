"""Run an experiment: every strategy x seed for the configured rounds, then write results."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anneal.al.stopping import StoppingRule
from anneal.data.archive import Archive
from anneal.errors import StateError
from anneal.eval.annotation_cost import CostModel, with_costs
from anneal.experiment.class_learner import make_learners
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.cost_plot import plot_cost
from anneal.experiment.cost_report import cost_markdown
from anneal.experiment.data import ExperimentData, prepare
from anneal.experiment.plot import plot_learning_curve
from anneal.experiment.reference import full_supervision, zero_shot
from anneal.experiment.report import METRICS, summary_markdown, write_rows
from anneal.experiment.stopping_report import stopping_markdown

log = logging.getLogger(__name__)


class ExperimentProgress:
    """Hooks a front end fills to show progress; the defaults show nothing."""

    def extraction(self, done: int, total: int) -> None:
        """Backbone features computed (or read from cache) for `done` of `total` images."""

    def start(self, total_rounds: int) -> None:
        """The AL loop is about to run this many rounds in all."""

    def round_done(self, row: dict[str, Any]) -> None:
        """One round finished with this result row."""

    def message(self, text: str) -> None:
        """A line worth telling the user."""


@dataclass
class ExperimentResult:
    folder: Path
    rows: list[dict[str, Any]]
    references: dict[str, dict[str, Any]]
    failed: dict[str, str]


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: Path,
    resume: bool = False,
    progress: ExperimentProgress | None = None,
    prepare_data: Callable[..., ExperimentData] = prepare,
) -> ExperimentResult:
    """Run (or resume) every strategy and seed; write CSV, JSON, PNG and Markdown to out_dir."""
    cfg.validate()
    progress = progress or ExperimentProgress()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    data = prepare_data(cfg, progress.extraction)
    if data.failed:
        progress.message(f"skipped {len(data.failed)} unreadable image(s): {sorted(data.failed)}")
    learners = make_learners(cfg, data, out_dir / "state")
    resumed = [learner.resume() if resume else False for learner in learners]
    if any(resumed):
        progress.message(f"resumed {sum(resumed)} run(s) from {out_dir / 'state'}")
    references: dict[str, dict[str, Any]] = {"zero-shot": zero_shot(data)}
    ref_path = out_dir / "state" / "full_supervision.json"
    if resume and ref_path.is_file():
        references["full supervision"] = json.loads(ref_path.read_text())
    else:
        progress.message("training the full-supervision reference")
        references["full supervision"] = full_supervision(cfg, data)
        ref_path.parent.mkdir(parents=True, exist_ok=True)
        ref_path.write_text(json.dumps(references["full supervision"]))

    progress.start(sum(cfg.rounds_of(x.strategy) - x.round for x in learners))
    rows: list[dict[str, Any]] = []
    for learner in learners:
        rows.append(learner.zero_shot_row(references["zero-shot"]))
        while learner.round < cfg.rounds_of(learner.strategy):
            progress.round_done(learner.step())
        rows.extend(learner.rows)

    classes = len(np.unique(data.labels))
    rows = write_report(cfg, rows, references, classes, out_dir)
    return ExperimentResult(out_dir, rows, references, data.failed)


def run_rounds(
    cfg: ExperimentConfig, data: ExperimentData, state_dir: Path
) -> list[dict[str, Any]]:
    """Every strategy and seed from round 0 for its rounds, without references or report: the
    round rows, for benchmarks that compare variants on data prepared once."""
    rows: list[dict[str, Any]] = []
    for learner in make_learners(cfg, data, state_dir):
        while learner.round < cfg.rounds_of(learner.strategy):
            rows.append(learner.step())
    return rows


def write_report(
    cfg: ExperimentConfig,
    rows: list[dict[str, Any]],
    references: dict[str, dict[str, Any]],
    classes: int,
    out_dir: Path,
) -> list[dict[str, Any]]:
    """Rows with their annotation costs, written as CSV and JSON, the summary and both plots.
    Rewrites a finished run's report from its rows (`anneal experiment --run NAME --report`)."""
    cost = CostModel(classes, cfg.seconds_per_pair, cfg.seconds_per_class_label)
    rows = with_costs(rows, cost)
    write_rows(rows, out_dir)
    # Labelled pairs per round: the budget, less the answers held back for re-asking.
    checkpoints = sorted({int(row["labelled_pairs"]) for row in rows})
    stopping = stopping_markdown(
        rows, StoppingRule(cfg.stop_agreement, cfg.stop_patience), cfg.flatten_gain
    )
    summary = summary_markdown(rows, references, checkpoints) + cost_markdown(rows, cost)
    (out_dir / "summary.md").write_text(summary + stopping)
    plot_cost(
        rows,
        out_dir / "annotation_cost.png",
        title=f"{Path(cfg.archive).name}: mAP@20 against annotation cost, {cfg.mode} mode",
    )
    plot_learning_curve(
        rows,
        {name: float(ref["map@20"]) for name, ref in references.items()},
        out_dir / "learning_curve.png",
        title=f"{Path(cfg.archive).name}: mAP@20, budget {cfg.budget}/round, {cfg.mode} mode",
    )
    return rows


def rewrite_report(out_dir: Path) -> ExperimentResult:
    """Write a finished run's summary and plots again from its saved rows and references (a
    newer report from the same measurements; nothing is trained or evaluated)."""
    rows_path = out_dir / "rounds.json"
    if not rows_path.is_file():
        raise StateError(f"{out_dir} has no rounds.json; finish the run first (--resume)")
    saved = json.loads((out_dir / "config.json").read_text())
    cfg = ExperimentConfig.from_dict(saved, strict=False)
    rows = json.loads(rows_path.read_text())
    zero = next(r for r in rows if int(r["round"]) == 0)
    references = {
        "zero-shot": {m: zero[m] for m in METRICS},
        "full supervision": json.loads((out_dir / "state" / "full_supervision.json").read_text()),
    }
    classes = len(set(Archive.from_folder(cfg.archive).labels().tolist()))
    rows = write_report(cfg, rows, references, classes, out_dir)
    return ExperimentResult(out_dir, rows, references, {})
