"""Write an experiment's results: per-round rows as CSV and JSON, and a Markdown summary."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("map@10", "map@20", "map@100", "p@20")
STAGES = ("pool", "selection", "training", "evaluation")


def write_rows(rows: list[dict[str, Any]], folder: Path) -> None:
    """rounds.csv and rounds.json, one row per (strategy, seed, round)."""
    folder.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with (folder / "rounds.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (folder / "rounds.json").write_text(json.dumps(rows, indent=1))


def curve(rows: list[dict[str, Any]], metric: str = "map@20") -> dict[str, dict[int, np.ndarray]]:
    """strategy -> labelled pairs -> values over seeds (pair-answer runs only: class-label runs
    have no pairs and are compared by cost, see cost_report)."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.get("unit", "pair") != "pair":
            continue
        out[row["strategy"]][int(row["labelled_pairs"])].append(float(row[metric]))
    return {s: {n: np.array(v) for n, v in sorted(d.items())} for s, d in out.items()}


def summary_markdown(
    rows: list[dict[str, Any]], references: dict[str, dict[str, Any]], checkpoints: list[int]
) -> str:
    """Mean ± std of mAP@20 at chosen label counts, seconds per stage, and the references."""
    lines = ["# Experiment summary", ""]
    lines.append("| reference | mAP@10 | mAP@20 | mAP@100 | P@20 |")
    lines.append("|---|---|---|---|---|")
    for name, ref in references.items():
        lines.append(f"| {name} | " + " | ".join(f"{ref[m]:.4f}" for m in METRICS) + " |")
    lines += ["", "mAP@20 (mean ± std over seeds) by labelled pairs:", ""]
    curves = curve(rows)
    lines.append("| strategy | " + " | ".join(str(c) for c in checkpoints) + " |")
    lines.append("|---|" + "---|" * len(checkpoints))
    for strategy, points in curves.items():
        cells = []
        for c in checkpoints:
            v = points.get(c)
            cells.append(f"{v.mean():.4f} ± {v.std():.4f}" if v is not None else "-")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per round by stage (mean over rounds and seeds):", ""]
    lines.append("| strategy | " + " | ".join(STAGES) + " | total |")
    lines.append("|---|" + "---|" * (len(STAGES) + 1))
    by_strategy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["round"] > 0:
            by_strategy[row["strategy"]].append(row)
    for strategy, srows in by_strategy.items():
        means = [float(np.mean([r.get(f"seconds_{s}", 0.0) for r in srows])) for s in STAGES]
        stage_cells = " | ".join(f"{m:.2f}" for m in means)
        lines.append(f"| {strategy} | {stage_cells} | {sum(means):.2f} |")
    return "\n".join(lines) + "\n"
