"""Learning curve under noisy annotators: flip rates x (one answer, three per pair, re-asking).

    .venv/bin/python bench/noise_curve.py --archive ../shared/data/ucmerced --budget 100 \
        --rounds 10 --seeds 3 --rates 0,0.1,0.2 --out results/noise

Every variant spends the same answers per round: "one" asks `budget` new pairs once; "panel3"
asks budget // 3 new pairs of three independent annotators each (majority vote); "recheck"
holds back `--recheck` of the budget for second and third answers to suspect pairs
(docs/method.md). Features are extracted once and every run shares them (head mode); each cell
is mAP@20 (mean ± std over seeds) after the round, with the share of wrong labels the model
trained on. Prints a Markdown table and writes rows.json under --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import prepare
from anneal.experiment.reference import zero_shot
from anneal.experiment.runner import run_rounds
from anneal.training.config import TrainConfig


def variants(budget: int, recheck: float) -> dict[str, dict[str, Any]]:
    """Answering schemes with the same answers per round."""
    return {
        "one": {"budget": budget},
        "panel3": {"budget": max(1, budget // 3), "annotators_per_pair": 3},
        "recheck": {"budget": budget, "recheck_fraction": recheck},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archive", default="../shared/data/ucmerced")
    parser.add_argument("--strategy", default="mgue")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rates", default="0,0.1,0.2")
    parser.add_argument("--noise", default="flip", help="flip or boundary")
    parser.add_argument("--recheck", type=float, default=0.2)
    parser.add_argument(
        "--transitivity",
        action=argparse.BooleanOptionalAction,
        default=ExperimentConfig.transitivity,
        help="train on implied pairs too (the experiment default)",
    )
    parser.add_argument("--schemes", default="one,panel3,recheck", help="answering schemes")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cache-dir", default=".cache/features")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    base = ExperimentConfig(
        archive=args.archive,
        strategies=[args.strategy],
        budget=args.budget,
        rounds=args.rounds,
        seeds=args.seeds,
        noise=args.noise,
        transitivity=args.transitivity,
        cache_dir=args.cache_dir,
        train=TrainConfig(epochs=args.epochs),
    )
    base.validate()
    data = prepare(base)
    print(f"zero-shot mAP@20 {zero_shot(data)['map@20']:.4f}", flush=True)
    table: dict[tuple[float, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (float(r) for r in args.rates.split(",")):
            schemes = variants(args.budget, args.recheck)
            for name in args.schemes.split(","):
                changes = schemes[name]
                cfg = dataclasses.replace(base, flip_rate=rate, **changes)
                cfg.validate()
                t = time.perf_counter()
                rows = run_rounds(cfg, data, Path(tmp) / f"{rate}-{name}")
                table[(rate, name)] = rows
                seconds = time.perf_counter() - t
                print(f"{args.noise} {rate:.2f} {name}: {seconds:.0f} s", flush=True)
    print_table(table, args.noise, args.rounds)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        flat = [
            {"flip_rate": r, "answering": n, **row}
            for (r, n), rows in table.items()
            for row in rows
        ]
        (args.out / "rows.json").write_text(json.dumps(flat, indent=1))


def print_table(
    table: dict[tuple[float, str], list[dict[str, Any]]], noise: str, rounds: int
) -> None:
    """mAP@20 by round, with the answers spent and the share of wrong labels at the end."""
    heads = " | ".join(f"round {r}" for r in range(1, rounds + 1))
    print(f"\n| {noise} rate | answering | answers | wrong labels | {heads} |")
    print("|---|---|---|---|" + "---|" * rounds)
    for (rate, name), rows in table.items():
        by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_round[int(row["round"])].append(row)
        last = by_round[rounds]
        cells = []
        for r in range(1, rounds + 1):
            v = np.array([x["map@20"] for x in by_round[r]])
            cells.append(f"{v.mean():.4f} ± {v.std():.4f}")
        answers = np.mean([x["answers"] for x in last])
        wrong = np.mean([x["wrong_labels"] for x in last])
        print(f"| {rate:.2f} | {name} | {answers:.0f} | {wrong:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
