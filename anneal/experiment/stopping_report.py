"""The summary's stopping and calibration tables: where the rule stops vs where mAP flattens."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from anneal.al.stopping import StoppingRule, flattening_round


def _cell(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def _answers(row: dict[str, Any]) -> str:
    """What the run had bought by this row: pairs, or class labels for the class-label runs."""
    if row.get("unit") == "class label":
        return f"{row.get('class_labels', 0)} class labels"
    return str(row["labelled_pairs"])


def stopping_markdown(
    rows: list[dict[str, Any]], rule: StoppingRule, min_gain: float, metric: str = "map@20"
) -> str:
    """Per run: the rule's stopping round, the flattening round and mAP at both; then the
    per-round signals (mean over seeds) per strategy."""
    runs: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        runs[(row["strategy"], int(row["seed"]))].append(row)
    lines = [
        "",
        f"Stopping rule: top-k agreement >= {rule.agreement} for {rule.patience} consecutive "
        f"rounds. Flat: the first round after which no later round gains more than "
        f"{min_gain} {metric}.",
        "",
        "| strategy | seed | rule stops at (answers) | mAP there | flat from (answers) | mAP there "
        "| best mAP |",
        "|---|---|---|---|---|---|---|",
    ]
    for (strategy, seed), run in runs.items():
        run = sorted(run, key=lambda r: int(r["round"]))
        by_round = {int(r["round"]): r for r in run}
        learned = [r for r in run if int(r["round"]) > 0]
        stop = rule.stop_round([float(r.get("topk_agreement", np.nan)) for r in learned])
        flat = flattening_round(
            [int(r["round"]) for r in run], [float(r[metric]) for r in run], min_gain
        )
        stop_cell, stop_map = "never", "-"
        if stop is not None:
            stop_cell = f"{stop} ({_answers(by_round[stop])})"
            stop_map = f"{by_round[stop][metric]:.4f}"
        best = max(float(r[metric]) for r in run)
        lines.append(
            f"| {strategy} | {seed} | {stop_cell} | {stop_map} | "
            f"{flat} ({_answers(by_round[flat])}) | {by_round[flat][metric]:.4f} "
            f"| {best:.4f} |"
        )
    lines += [
        "",
        "Signals per round (mean over seeds): top-k agreement, threshold change, "
        "classifier confidence, ECE on the round's new answers:",
        "",
        "| strategy | round | answers | agreement | threshold change | confidence | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if int(row["round"]) > 0:
            cells[(row["strategy"], int(row["round"]))].append(row)
    for (strategy, round_), group in sorted(cells.items()):
        means = [
            float(np.nanmean([float(r.get(c, np.nan)) for r in group]))
            if any(not np.isnan(float(r.get(c, np.nan))) for r in group)
            else float("nan")
            for c in (
                "topk_agreement",
                "threshold_change",
                "classifier_confidence",
                "ece_new_pairs",
            )
        ]
        lines.append(
            f"| {strategy} | {round_} | {_answers(group[0])} | "
            + " | ".join(_cell(m) for m in means)
            + " |"
        )
    return "\n".join(lines) + "\n"
