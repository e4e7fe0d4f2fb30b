"""Stopping signal: top-k agreement by hand, the rule on a run whose answer is known, flattening."""

from pathlib import Path

import numpy as np
import pytest
from tiny_config import tiny_config

from anneal.al.stopping import StoppingRule, flattening_round, nearest_neighbours, topk_agreement
from anneal.experiment.runner import run_experiment


def _on_circle(degrees: list[float]) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def test_nearest_neighbours_exclude_the_image_itself():
    nn = nearest_neighbours(_on_circle([0, 10, 25, 90]), k=1)
    assert nn[:, 0].tolist() == [1, 0, 1, 2]


def test_topk_agreement_hand_example():
    before = _on_circle([0, 10, 25, 90])  # 1-NN: 0->1, 1->0, 2->1, 3->2
    after = _on_circle([0, 20, 25, 90])  # 1-NN: 0->1, 1->2, 2->1, 3->2: row 1 changed
    assert topk_agreement(before, after, k=1) == pytest.approx(0.75)
    # 2-NN sets are the same for every image in both spaces.
    assert topk_agreement(before, after, k=2) == pytest.approx(1.0)
    assert topk_agreement(before, before, k=3) == pytest.approx(1.0)


def test_rule_fires_patience_rounds_after_the_embeddings_stop_changing():
    rng = np.random.default_rng(0)
    settle, rounds, patience = 3, 8, 2

    def normalised(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    # Embeddings of rounds 0..settle change completely; from round `settle` on they are fixed.
    spaces = [normalised(rng.normal(size=(60, 8))) for _ in range(settle + 1)]
    spaces += [spaces[-1]] * (rounds - settle)
    agreements = [topk_agreement(spaces[t - 1], spaces[t], k=5) for t in range(1, rounds + 1)]
    assert max(agreements[:settle]) < 0.5 and min(agreements[settle:]) == 1.0
    assert StoppingRule(agreement=0.95, patience=patience).stop_round(agreements) == (
        settle + patience
    )
    assert StoppingRule(agreement=0.95, patience=rounds).stop_round(agreements) is None


def test_rule_needs_consecutive_rounds():
    assert StoppingRule(0.9, 2).stop_round([0.95, 0.5, 0.95, 0.96]) == 4


def test_flattening_round():
    rounds = [0, 1, 2, 3, 4]
    # Gains after round 2 are at most 0.004 <= 0.005: flat from round 2.
    assert flattening_round(rounds, [0.80, 0.90, 0.950, 0.954, 0.952], 0.005) == 2
    # A late jump moves it to the end.
    assert flattening_round(rounds, [0.80, 0.90, 0.950, 0.954, 0.970], 0.005) == 4


def test_experiment_reports_signals_per_round(tiny_archive: Path, tmp_path: Path):
    cfg = tiny_config(
        tiny_archive, tmp_path, strategies=["bcgue"], budget=6, calibration="sigmoid", stop_k=3
    )
    rows = run_experiment(cfg, tmp_path / "run").rows
    learned = [r for r in rows if r["round"] > 0]
    for row in learned:
        assert 0.0 <= row["topk_agreement"] <= 1.0
        assert isinstance(row["stop_rule_fires"], bool)
        assert "ece_new_pairs_uncalibrated" in row
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "Stopping rule: top-k agreement >= 0.95 for 2 consecutive rounds" in summary
