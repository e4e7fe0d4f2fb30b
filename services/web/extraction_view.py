"""The archive's feature extraction as the status page shows it (a JSON-ready dict)."""

from __future__ import annotations

from typing import Any

from annealpb.coordinator.v1 import coordinator_pb2 as pb


def extraction_view(status: pb.GetStatusResponse) -> dict[str, Any] | None:
    """Images done of total, images/s, seconds left (None while unknown); None before it began."""
    if not status.HasField("extraction"):
        return None
    e = status.extraction
    return {
        "images_done": e.images_done,
        "images_total": e.images_total,
        "images_per_second": round(e.images_per_second, 2),
        "seconds_left": None if e.seconds_left < 0 else round(e.seconds_left, 1),
        "running": e.running,
    }
