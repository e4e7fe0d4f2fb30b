"""The learning-curve figure: mAP@20 of the serving model against labelled pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure


def write_learning_curve(
    path: Path, labelled: Sequence[int], map20: Sequence[float], title: str
) -> None:
    """A PNG of mAP@20 (y) against cumulative labelled pairs (x), one point per round."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.plot(labelled, map20, marker="o")
    for x, y in zip(labelled, map20, strict=True):
        axes.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center")
    axes.set_xlabel("labelled pairs")
    axes.set_ylabel("mAP@20")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
