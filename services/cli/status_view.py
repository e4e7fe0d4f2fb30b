"""Rich rendering of coordinator statuses for ``anneal round status`` and ``anneal status``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from services.coordinator.annotators_per_pair import DEFAULT_ANNOTATORS_PER_PAIR


def state_name(state: int) -> str:
    return pb.RoundState.Name(state).removeprefix("ROUND_STATE_").lower()


def extraction_rate(extraction: pb.ExtractionProgress) -> str:
    """Images/s and time left, e.g. "8.1 images/s, 4:04 left" ("measuring" while unknown)."""
    if extraction.seconds_left < 0:
        return "measuring images/s"
    minutes, seconds = divmod(round(extraction.seconds_left), 60)
    return f"{extraction.images_per_second:.1f} images/s, {minutes}:{seconds:02d} left"


def extraction_line(extraction: pb.ExtractionProgress) -> str:
    """One line of a running extraction for ``anneal status``."""
    return (
        f"feature extraction: {extraction.images_done}/{extraction.images_total} images,"
        f" {extraction_rate(extraction)}"
    )


def rounds_table(rounds: Sequence[pb.RoundStatus]) -> Table:
    table = Table(title="rounds")
    for column in (
        "round",
        "state",
        "strategy",
        "mode",
        "annotators/pair",
        "labelled",
        "index",
        "model",
        "mAP@20",
        "stages (s)",
        "error",
    ):
        table.add_column(column)
    for r in rounds:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.stage_seconds.items()))
        score = r.metrics.get("map@20")
        table.add_row(
            str(r.round),
            state_name(r.state),
            r.strategy,
            r.mode or "head",
            str(r.annotators_per_pair or DEFAULT_ANNOTATORS_PER_PAIR),  # 0: an older coordinator
            f"{r.labelled_pairs}/{r.budget}",
            str(r.index_version or ""),
            r.model_version,
            "" if score is None else f"{score:.4f}",
            stages,
            r.error,
        )
    return table
