"""The same method on two splits of UC Merced: the stable per-image split and issue 2's split.

    .venv/bin/python bench/split_sensitivity.py --archive ../shared/data/ucmerced --seeds 3

Issue 2 measured with a seeded, class-stratified `train_test_split` (scikit-learn) over all
rows; issue 10 replaced it with the stable per-image split (anneal/data/split.py). Both hold out
about 20% of every class, but not the same images, so zero-shot, full supervision and the
learning curve move with the split. This runs the current defaults (strategy `--strategy`) on
both and prints zero-shot, full supervision, mAP@20 at the checkpoints and the share of the
zero-shot-to-full-supervision gap closed, so figures measured on one split can be read on the
other.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from anneal.data.archive import Archive
from anneal.data.split import Split
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.data import ExperimentData, prepare
from anneal.experiment.reference import full_supervision, zero_shot
from anneal.experiment.runner import run_rounds


def issue2_split(archive: Archive, fraction: float = 0.2, seed: int = 0) -> Split:
    """Issue 2's split: stratified `train_test_split` over all rows (moves when rows change)."""
    rows = np.arange(len(archive.images))
    kept, queries = train_test_split(
        rows, test_size=fraction, random_state=seed, stratify=archive.labels(), shuffle=True
    )
    return Split(archive=np.sort(kept), queries=np.sort(queries))


def curve(cfg: ExperimentConfig, data: ExperimentData, state: Path) -> dict[int, list[float]]:
    """mAP@20 of every seed by labelled pairs."""
    out: dict[int, list[float]] = {}
    for row in run_rounds(cfg, data, state):
        out.setdefault(int(row["labelled_pairs"]), []).append(float(row["map@20"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archive", default="../shared/data/ucmerced")
    parser.add_argument("--strategy", default="mgue")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--checkpoints", default="300,500,1000")
    parser.add_argument("--cache-dir", default=".cache/features")
    args = parser.parse_args()
    cfg = ExperimentConfig(
        archive=args.archive,
        strategies=[args.strategy],
        rounds=args.rounds,
        seeds=args.seeds,
        cache_dir=args.cache_dir,
    )
    cfg.validate()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    heads = " | ".join(f"{c} pairs" for c in checkpoints)
    lines = [
        f"| split | queries | zero-shot | full supervision | {heads} | gap closed |",
        "|---|---|---|---|" + "---|" * len(checkpoints) + "---|",
    ]
    splits = {"stable (issue 10)": None, "train_test_split (issue 2)": issue2_split}
    with tempfile.TemporaryDirectory() as tmp:
        for name, splitter in splits.items():
            data = prepare(dataclasses.replace(cfg), splitter=splitter)
            zero = zero_shot(data)["map@20"]
            full = full_supervision(cfg, data)["map@20"]
            points = curve(cfg, data, Path(tmp) / str(len(lines)))
            cells = [np.array(points[c]) for c in checkpoints]
            text = " | ".join(f"{v.mean():.4f} ± {v.std():.4f}" for v in cells)
            gap = (cells[-1].mean() - zero) / (full - zero)
            lines.append(
                f"| {name} | {len(data.split.queries)} | {zero:.4f} | {full:.4f} | {text} "
                f"| {gap:.0%} |"
            )
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
