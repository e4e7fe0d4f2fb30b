"""What makes the same answers worth more: training and labelling variants side by side.

    .venv/bin/python bench/method_variants.py --archive ../shared/data/ucmerced --seeds 3 \
        --variant base: --variant transitivity:transitivity=true \
        --variant sampled:transitivity=true,implied_pairs=4000 --out results/method-variants

A variant is a name and overrides of ExperimentConfig fields (`train.` for TrainConfig
fields): `name:field=value,field=value`. Every variant runs the same strategies, seeds and
rounds on features extracted once (head mode; a variant with another head builds its own
round-0 model from the cached features), and full supervision is trained with each
variant's trainer, so the share of the zero-shot-to-full-supervision gap is the variant's own.
Prints a Markdown table of mAP@20 (mean ± std over seeds) at the checkpoints, the share of the
gap closed at the last one, and seconds per round; writes rows.json under --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from anneal.errors import ConfigError
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import prepare
from anneal.experiment.reference import full_supervision, zero_shot
from anneal.experiment.runner import run_rounds


def parse_value(text: str) -> Any:
    """JSON where it parses (numbers, true/false), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply(base: ExperimentConfig, overrides: str) -> ExperimentConfig:
    """`base` with `field=value,...` overrides; `train.field` reaches the trainer's config."""
    top: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for item in filter(None, overrides.split(",")):
        key, _, value = item.partition("=")
        if key.startswith("train."):
            train[key.removeprefix("train.")] = parse_value(value)
        else:
            top[key] = parse_value(value)
    cfg = dataclasses.replace(base, **top, train=dataclasses.replace(base.train, **train))
    cfg.validate()
    return cfg


def cell(rows: list[dict[str, Any]], strategy: str, pairs: int) -> tuple[float, float]:
    values = np.array(
        [r["map@20"] for r in rows if r["strategy"] == strategy and r["labelled_pairs"] == pairs]
    )
    return (float(values.mean()), float(values.std())) if len(values) else (np.nan, np.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archive", default="../shared/data/ucmerced")
    parser.add_argument("--strategies", default="mgue")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--checkpoints", default="300,500,1000")
    parser.add_argument("--variant", action="append", default=None, help="name:field=value,...")
    parser.add_argument("--cache-dir", default=".cache/features")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    base = ExperimentConfig(
        archive=args.archive,
        strategies=args.strategies.split(","),
        budget=args.budget,
        rounds=args.rounds,
        seeds=args.seeds,
        cache_dir=args.cache_dir,
    )
    base_data = prepare(base)
    zero = zero_shot(base_data)["map@20"]
    print(f"zero-shot mAP@20 {zero:.4f}", flush=True)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.variant or ["base:"]:
            name, _, overrides = spec.partition(":")
            try:
                cfg = apply(base, overrides)
            except (ConfigError, TypeError) as exc:  # TypeError: a field that does not exist
                parser.error(f"variant {spec!r}: {exc}")
            data = base_data
            if (cfg.head_hidden, cfg.dim) != (base.head_hidden, base.dim):
                data = prepare(cfg)  # another round-0 model; the features come from the cache
            full = full_supervision(cfg, data)["map@20"]
            t = time.perf_counter()
            rows = run_rounds(cfg, data, Path(tmp) / name)
            seconds = (time.perf_counter() - t) / (len(cfg.strategies) * cfg.seeds * cfg.rounds)
            results.append({"variant": name, "overrides": overrides, "full": full, "rows": rows})
            results[-1]["seconds_per_round"] = seconds
            print_table(results[-1:], base.strategies, checkpoints, zero, header=False)
    print_table(results, base.strategies, checkpoints, zero)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "rows.json").write_text(json.dumps(results, indent=1, default=float))


def print_table(
    results: list[dict[str, Any]],
    strategies: list[str],
    checkpoints: list[int],
    zero: float,
    header: bool = True,
) -> None:
    heads = " | ".join(f"{c} pairs" for c in checkpoints)
    if header:
        print(f"\n| variant | strategy | {heads} | full supervision | gap closed | s/round |")
        print("|---|---|" + "---|" * len(checkpoints) + "---|---|---|")
    for result in results:
        for strategy in strategies:
            cells = [cell(result["rows"], strategy, c) for c in checkpoints]
            text = " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in cells)
            gap = (cells[-1][0] - zero) / (result["full"] - zero)
            print(
                f"| {result['variant']} `{result['overrides']}` | {strategy} | {text} | "
                f"{result['full']:.4f} | {gap:.0%} | {result['seconds_per_round']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
