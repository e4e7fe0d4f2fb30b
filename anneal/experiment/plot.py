"""Learning-curve plot: mAP@20 against labelled pairs, one line per strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from anneal.experiment.report import curve


def plot_learning_curve(
    rows: list[dict[str, Any]],
    references: dict[str, float],
    path: Path,
    metric: str = "map@20",
    title: str = "",
) -> None:
    """Mean over seeds with a min-max band; references drawn as horizontal lines."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for strategy, points in curve(rows, metric).items():
        x = list(points)
        mean = [v.mean() for v in points.values()]
        ax.plot(x, mean, marker="o", markersize=3, label=strategy)
        ax.fill_between(
            x, [v.min() for v in points.values()], [v.max() for v in points.values()], alpha=0.2
        )
    styles = iter(["--", ":", "-."])
    for name, value in references.items():
        ax.axhline(value, linestyle=next(styles, "--"), color="grey", linewidth=1)
        ax.annotate(
            f"{name} {value:.3f}",
            (0, value),
            textcoords="offset points",
            xytext=(4, 3),
            fontsize=8,
            color="dimgrey",
        )
    ax.set_xlabel("labelled pairs")
    ax.set_ylabel(metric.replace("map", "mAP"))
    ax.set_title(title or f"{metric.replace('map', 'mAP')} against annotation cost")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # none when every run answered class labels
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
