"""How BCGUE calibration changes which pairs are selected, on the saved last round of a run.

    .venv/bin/python bench/calibration_ranking.py --run results/NAME [--strategy bcgue]

For each seed of the strategy, resumes the run's last model and labels, builds the next round's
candidate pool, and selects the next round's pairs with every calibration. Prints, per
calibration: the share of the pool the classifier calls similar (p > 0.5), the overlap (Jaccard)
of the 5 x budget most uncertain candidates and of the selected pairs with the uncalibrated
choice, and the share of the selected pairs that are truly similar (class labels; a sampler
that asks about 50/50 pairs should land near 0.5).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from anneal.al.annotators.simulated import SimulatedOracle
from anneal.al.calibration import CALIBRATIONS
from anneal.al.context import SelectionContext
from anneal.al.labelled_pairs import LabelledPairs
from anneal.al.pairs import PairLabel
from anneal.al.pool import PoolBuilder
from anneal.al.round_parameters import round_generator
from anneal.al.strategies import make_selector
from anneal.al.uncertainty.classifier import ClassifierUncertainty
from anneal.al.uncertainty.margin import MarginUncertainty
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import prepare
from anneal.experiment.learner import ActiveLearner
from anneal.models.embedding_model import EmbeddingModel


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = {tuple(x) for x in a.tolist()}, {tuple(x) for x in b.tolist()}
    return len(sa & sb) / max(1, len(sa | sb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--strategy", default="bcgue")
    args = parser.parse_args()
    # Only the run's archive and selection settings matter here: read leniently, so a run made
    # by an older version (another training configuration) can still be inspected.
    cfg = ExperimentConfig.from_dict(
        json.loads((args.run / "config.json").read_text()), strict=False
    )
    data = prepare(cfg)
    oracle = SimulatedOracle({image.id: str(image.label) for image in data.archive.images})
    labels = data.archive_labels
    print(
        "| seed | round | calibration | pool p>0.5 | top-5B overlap | selected overlap "
        "| selected similar |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed in range(cfg.seeds):
        learner = ActiveLearner(args.strategy, seed, cfg, data, oracle, args.run / "state")
        state_path = args.run / "state" / f"{learner.name}.json"
        if not state_path.is_file():
            continue
        state = json.loads(state_path.read_text())
        learner.round = int(state["round"])
        learner.labels = [PairLabel.from_dict(x) for x in state["labels"]]
        model = EmbeddingModel.load(
            args.run / "state" / f"{learner.name}.round{learner.round}.model.pt",
            backbone=data.initial.backbone,
        )
        known = LabelledPairs.from_labels(learner.labels, learner.index)
        pairs, similar = known.pairs, known.similar
        emb = data.archive_mode.embeddings(model)
        pool = PoolBuilder(cfg.neighbours, cfg.random_per_image).build(
            emb, pairs, round_generator(seed, learner.round)
        )
        top, chosen = {}, {}
        for method in CALIBRATIONS:
            clf = ClassifierUncertainty(MarginUncertainty(), calibration=method)
            ctx = SelectionContext(emb, pool, pairs, similar, np.random.default_rng(0))
            p = clf.probabilities(ctx)
            if p is None:
                raise SystemExit("the run's labels cannot train the classifier yet")
            order = np.argsort(np.abs(p - 0.5), kind="stable")
            top[method] = pool[order[: cfg.diversity_multiple * cfg.budget]]
            builder = PoolBuilder(cfg.neighbours, cfg.random_per_image)
            selector = make_selector(args.strategy, builder, cfg.diversity_multiple, method)
            chosen[method] = selector.select(
                emb, pairs, similar, cfg.budget, np.random.default_rng([seed, learner.round])
            ).pairs
            truly = float(np.mean(labels[chosen[method][:, 0]] == labels[chosen[method][:, 1]]))
            print(
                f"| {seed} | {learner.round} | {method} | {np.mean(p > 0.5):.3f} | "
                f"{_jaccard(top[method], top['none']):.2f} | "
                f"{_jaccard(chosen[method], chosen['none']):.2f} | {truly:.2f} |"
            )


if __name__ == "__main__":
    main()
