"""The one look of a progress bar in every command (experiments, label export and import).

Kept apart from :mod:`anneal.cli.progress`, which imports the experiment code (and PyTorch), so
the service commands can show a bar without loading either.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(console: Console, transient: bool = False) -> Progress:
    """What, bar, done of total, time elapsed; ``transient`` bars vanish when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )
