"""Rich progress display for experiments."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from anneal.cli.progress_bar import progress_bar
from anneal.experiment.runner import ExperimentProgress


class RichProgress(ExperimentProgress):
    """Bars for feature extraction and AL rounds, and a line per finished round."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = progress_bar(console)
        self._extract: Any = None
        self._rounds: Any = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def extraction(self, done: int, total: int) -> None:
        if self._extract is None:
            self._extract = self.bar.add_task("backbone features", total=total)
        self.bar.update(self._extract, completed=done)

    def start(self, total_rounds: int) -> None:
        self._rounds = self.bar.add_task("active-learning rounds", total=total_rounds)

    def round_done(self, row: dict[str, Any]) -> None:
        self.bar.advance(self._rounds)
        self.console.log(
            f"{row['strategy']:>14} seed {row['seed']} round {row['round']:>2}: "
            f"{row['labelled_pairs']:>5} pairs"
            + (f" {row['class_labels']:>5} class labels" if "class_labels" in row else "")
            + f", mAP@20 {row['map@20']:.4f}"
        )

    def message(self, text: str) -> None:
        self.console.log(text)
