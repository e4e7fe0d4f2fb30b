"""Cost plot: mAP@20 against bits and against seconds of annotation, one line per strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from anneal.experiment.cost_report import mean_curve


def plot_cost(
    rows: list[dict[str, Any]], path: Path, metric: str = "map@20", title: str = ""
) -> None:
    """Two panels (bits, seconds); each line the mean over seeds of one strategy's rounds."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=120, sharey=True)
    strategies = list(dict.fromkeys(row["strategy"] for row in rows))
    for ax, x, label in zip(
        axes,
        ("annotation_bits", "annotation_seconds"),
        ("annotation cost (bits)", "annotation cost (seconds, cost model)"),
        strict=True,
    ):
        for strategy in strategies:
            points = mean_curve(rows, strategy, x, metric)
            ax.plot(list(points), list(points.values()), marker="o", markersize=3, label=strategy)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric.replace("map", "mAP"))
    axes[1].legend(loc="lower right")
    fig.suptitle(title or f"{metric.replace('map', 'mAP')} against annotation cost")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
