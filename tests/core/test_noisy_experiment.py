"""Experiments with noisy simulated annotators: options validated, runs complete and count."""

import json
from pathlib import Path

import pytest
from tiny_config import tiny_config
from typer.testing import CliRunner

from anneal.cli.app import app
from anneal.errors import ConfigError
from anneal.experiment.runner import run_experiment
from anneal.training.config import TrainConfig

NOISY = {"strategies": ["mgue"], "train": TrainConfig(epochs=2)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"noise": "loud"}, "unknown noise model 'loud'"),
        ({"flip_rate": 0.5}, "flip rate must be at least 0 and below 0.5"),
        ({"annotators_per_pair": 0}, "annotators per pair must be at least 1"),
        ({"recheck_fraction": 1.0}, "recheck fraction must be at least 0 and below 1"),
        ({"recheck_fraction": 0.2, "annotators_per_pair": 3}, "not both"),
        ({"recheck_fraction": 0.9, "budget": 4}, "leaves no new pairs"),
    ],
)
def test_noise_options_are_validated(tmp_path: Path, changes: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        tiny_config(tmp_path, tmp_path, **{**NOISY, **changes}).validate()


def test_boundary_noise_with_recheck_runs_and_counts_answers(tiny_archive: Path, tmp_path: Path):
    cfg = tiny_config(
        tiny_archive, tmp_path, **NOISY, noise="boundary", flip_rate=0.2, recheck_fraction=0.5
    )
    rows = [r for r in run_experiment(cfg, tmp_path / "run").rows if r["round"] > 0]
    # Budget 4, half held back: 2 new pairs a round, at most 4 answers.
    assert [r["labelled_pairs"] for r in rows] == [2, 4]
    assert all(r["labelled_pairs"] <= r["answers"] <= 2 * r["labelled_pairs"] for r in rows)
    assert all(0.0 <= r["wrong_labels"] <= 1.0 and 0.0 <= r["map@20"] <= 1.0 for r in rows)
    assert "| strategy | 0 | 2 | 4 |" in (tmp_path / "run" / "summary.md").read_text()


def test_three_annotators_per_pair_cost_three_answers(tiny_archive: Path, tmp_path: Path):
    cfg = tiny_config(
        tiny_archive, tmp_path, **NOISY, flip_rate=0.1, annotators_per_pair=3, rounds=1
    )
    rows = [r for r in run_experiment(cfg, tmp_path / "run").rows if r["round"] > 0]
    assert [(r["labelled_pairs"], r["answers"]) for r in rows] == [(4, 12)]
    state = json.loads((tmp_path / "run" / "state" / "mgue-seed0.json").read_text())
    assert {x["annotator"] for x in state["labels"]} == {
        "panel-simulated-flip-0+simulated-flip-1+simulated-flip-2"
    }


def test_cli_bad_flip_rate_is_a_one_line_error(tiny_archive: Path, tmp_path: Path):
    args = ["experiment", "--archive", str(tiny_archive), "--flip-rate", "0.7"]
    result = CliRunner().invoke(app, [*args, "--results", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "flip rate must be at least 0 and below 0.5, got 0.7" in result.output
    assert "Traceback" not in result.output
