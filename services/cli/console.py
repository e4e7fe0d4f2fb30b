"""The one Rich console every command (``anneal ...``, the demo) prints through.

On a terminal Rich fits output to the window. When the output is not a terminal (piped to a
file, ``make demo | tee``, CI logs) Rich would assume 80 columns and cut table headers to
``label…``; there the width is :data:`PIPED_WIDTH` instead (tables still take only the room
they need), unless ``COLUMNS`` says otherwise.
"""

from __future__ import annotations

import os

from rich.console import Console

PIPED_WIDTH = 4096


def output_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) whose tables are never cut when output is piped."""
    made = Console(stderr=stderr)
    if made.is_terminal or os.environ.get("COLUMNS"):
        return made
    return Console(stderr=stderr, width=PIPED_WIDTH)
