"""How many annotators should answer each pair of a round: the round's labelling overlap.

Given in ``StartRound`` and kept with the round (its status, its state file) so a labelling
service bridge can set each task's overlap from it. The coordinator only checks and reports
it; the labels service does not use it (a pair still counts as labelled at its first answer).
"""

from __future__ import annotations

from anneal.errors import ConfigError

DEFAULT_ANNOTATORS_PER_PAIR = 1
"""One answer per pair: what rounds did before the parameter existed (state files without it
load as 1), and what a ``StartRound`` with 0 (the field unset) gets."""

MAX_ANNOTATORS_PER_PAIR = 10


def check_annotators_per_pair(annotators: int) -> None:
    """ConfigError (INVALID_ARGUMENT at the gRPC boundary) unless 1 <= ``annotators`` <= 10."""
    if not 1 <= annotators <= MAX_ANNOTATORS_PER_PAIR:
        raise ConfigError(
            f"annotators_per_pair must be between 1 and {MAX_ANNOTATORS_PER_PAIR}"
            f" (0 in StartRound means {DEFAULT_ANNOTATORS_PER_PAIR}), got {annotators}"
        )
