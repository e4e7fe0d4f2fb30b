"""Rounds and labelling state as the pages show them (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.labels.v1 import labels_pb2
from annealpb.selection.v1 import selection_pb2
from services.cli.status_view import state_name

LABELS_OPEN = pb.ROUND_STATE_COLLECTING

NEXT_STEP = {
    pb.ROUND_STATE_SELECTING: "Pairs are being selected; the round opens for answers in a moment.",
    pb.ROUND_STATE_TRAINING: "Round {round} is answered: the model is training on the answers; "
    "then the archive is re-embedded and the new index swapped in.",
    pb.ROUND_STATE_EMBEDDING: "Round {round} is answered: the archive is being re-embedded with "
    "the new model; the new index is swapped in next.",
    pb.ROUND_STATE_INDEXING: "Round {round} is answered: the new index is being built; it serves "
    "queries as soon as it is verified.",
    pb.ROUND_STATE_SWAPPING: "Round {round} is answered: the new index is being swapped in.",
    pb.ROUND_STATE_DONE: "Round {round} is done (index v{index}). The next round opens when an "
    "operator starts one.",
    pb.ROUND_STATE_FAILED: "Round {round} failed ({error}); the previous index keeps serving. "
    "An operator can start a new round.",
}


def round_view(status: pb.RoundStatus, fraction_similar: float | None = None) -> dict[str, Any]:
    return {
        "round": status.round,
        "state": state_name(status.state),
        "strategy": status.strategy,
        "budget": status.budget,
        "mode": status.mode or "head",
        "annotators_per_pair": status.annotators_per_pair or 1,
        "labelled_pairs": status.labelled_pairs,
        "fraction_similar": fraction_similar,
        "index_version": status.index_version,
        "model_version": status.model_version,
        "map_at_k": {
            key.removeprefix("map@"): value
            for key, value in status.metrics.items()
            if key.startswith("map@")
        },
        "stage_seconds": dict(status.stage_seconds),
        "error": status.error,
    }


def pair_view(pair: selection_pb2.Pair) -> dict[str, Any]:
    return {"pair_id": pair.pair_id, "image_a": pair.image_a, "image_b": pair.image_b}


def progress_view(progress: labels_pb2.GetRoundProgressResponse, budget: int) -> dict[str, int]:
    return {
        "mine": progress.your_labels,
        "labelled_pairs": progress.labelled_pairs,
        "pairs": progress.pairs,
        "budget": budget,
    }


def next_step(status: pb.GetStatusResponse) -> str:
    """What happens now that no pair is waiting for this person."""
    if not status.HasField("round"):
        return "No round has been started yet; an operator starts one on the Rounds page."
    r = status.round
    if r.state == LABELS_OPEN:
        return (
            f"You have answered or skipped every pair of round {r.round} still open; others may "
            "still be answering. The round trains as soon as every pair has an answer."
        )
    template = NEXT_STEP.get(r.state, "Round {round} is {state}.")
    return template.format(
        round=r.round, index=status.serving_index_version, error=r.error, state=state_name(r.state)
    )
