"""The summary's annotation-cost part: mAP@20 against bits and seconds, and the saving.

Rows carry `annotation_bits` and `annotation_seconds` (anneal.eval.annotation_cost.with_costs).
The saving compares each ANNEAL strategy in the run with each baseline in it: how much the
baseline spends to reach ANNEAL's mAP@20 at 300, 500 and 1,000 pairs
(anneal.eval.annotation_saving).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from anneal.al.class_labels import CLASS_LABEL_STRATEGIES
from anneal.al.strategies import PAIR_BASELINES
from anneal.eval.annotation_cost import CostModel
from anneal.eval.annotation_saving import cost_to_reach, value_at

ANNEAL_STRATEGIES = ("mgue", "bcgue")
SAVING_AT = (300, 500, 1000)


def mean_curve(
    rows: list[dict[str, Any]], strategy: str, x: str, metric: str = "map@20"
) -> dict[float, float]:
    """Mean over seeds of (x, metric) per round of one strategy, cost ascending."""
    by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["strategy"] == strategy:
            by_round[int(row["round"])].append(row)
    points = {
        float(np.mean([r[x] for r in rs])): float(np.mean([r[metric] for r in rs]))
        for rs in by_round.values()
    }
    return dict(sorted(points.items()))


def _strategies(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(row["strategy"] for row in rows))


def cost_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per strategy and round: answers, bits, seconds and mean mAP@20."""
    lines = ["| strategy | round | pair answers | class labels | bits | seconds | mAP@20 |"]
    lines.append("|---|---|---|---|---|---|---|")
    for strategy in _strategies(rows):
        by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            if row["strategy"] == strategy:
                by_round[int(row["round"])].append(row)
        for rnd, rs in sorted(by_round.items()):
            r0 = rs[0]
            lines.append(
                f"| {strategy} | {rnd} | {r0['labelled_pairs']} | {r0.get('class_labels', 0)} "
                f"| {r0['annotation_bits']:.1f} | {r0['annotation_seconds']:.1f} "
                f"| {np.mean([r['map@20'] for r in rs]):.4f} |"
            )
    return lines


def _never(curve: dict[float, float], unit: str) -> str:
    last = max(curve)
    return f"never within the run (at {last:.0f} {unit}: {curve[last]:.4f})"


def saving_table(rows: list[dict[str, Any]], model: CostModel) -> list[str]:
    """For each ANNEAL strategy and checkpoint: ANNEAL's mAP@20 and what each baseline needs."""
    present = _strategies(rows)
    methods = [s for s in ANNEAL_STRATEGIES if s in present]
    pair_baselines = [s for s in PAIR_BASELINES if s in present]
    class_baselines = [s for s in CLASS_LABEL_STRATEGIES if s in present]
    if not methods or not (pair_baselines or class_baselines):
        return ["(needs an ANNEAL strategy (mgue, bcgue) and a baseline in the same run)"]
    lines = ["| ANNEAL | at pairs | ANNEAL mAP@20 | baseline | baseline needs | ratio |"]
    lines.append("|---|---|---|---|---|---|")
    for method in methods:
        own = mean_curve(rows, method, "labelled_pairs")
        for at in SAVING_AT:
            target = value_at(own, at)
            if target is None:
                ends = f"not measured (run ends at {max(own):.0f} pairs)"
                lines.append(f"| {method} | {at} | {ends} | - | - | - |")
                continue
            for base in pair_baselines:
                curve = mean_curve(rows, base, "labelled_pairs")
                need = cost_to_reach(curve, target)
                cell = _never(curve, "pairs") if need is None else f"{need:.0f} pairs"
                ratio = "-" if need is None else f"{need / at:.2f}x"
                lines.append(f"| {method} | {at} | {target:.4f} | {base} | {cell} | {ratio} |")
            for base in class_baselines:
                curve = mean_curve(rows, base, "annotation_bits")
                need = cost_to_reach(curve, target)
                if need is None:
                    cell, ratio = _never(curve, "bits"), "-"
                else:
                    labels = need / model.bits_per_class_label
                    cell = (
                        f"{labels:.0f} class labels = {need:.0f} bits = "
                        f"{model.seconds(0, round(labels)):.0f} s "
                        f"(ANNEAL: {model.bits(at):.0f} bits = {model.seconds(at):.0f} s)"
                    )
                    ratio = f"{need / model.bits(at):.2f}x bits"
                lines.append(f"| {method} | {at} | {target:.4f} | {base} | {cell} | {ratio} |")
    return lines


def cost_markdown(rows: list[dict[str, Any]], model: CostModel) -> str:
    """The cost section appended to summary.md."""
    lines = [
        "",
        "## Annotation cost",
        "",
        f"Cost model: 1 bit per pair answer, log2({model.classes}) = "
        f"{model.bits_per_class_label:.2f} bits per class label; "
        f"{model.seconds_per_pair:.3f} s per pair answer, "
        f"{model.seconds_per_class_label:.3f} s per class label (docs/method.md).",
        "",
        *cost_table(rows),
        "",
        "Annotation saving: what each baseline needs to reach ANNEAL's mAP@20 (mean over seeds, "
        "interpolated on the learning curves):",
        "",
        *saving_table(rows, model),
    ]
    return "\n".join(lines) + "\n"
