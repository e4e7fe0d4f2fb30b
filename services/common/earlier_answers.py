"""The resolved answers of a set of rounds, read from the label service in one call.

Training (the coordinator) and selection both need every earlier round's answers each round.
One ``GetResolvedLabels(up_to_round=max)`` replaces a call per round; the answers of rounds not
asked for (e.g. imported ones the caller does not know) are left out, so the result is the union
of the per-round calls.
"""

from __future__ import annotations

from collections.abc import Iterable

from anneal.al.labelled_pairs import Answer
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc


def earlier_answers(
    stub: labels_pb2_grpc.LabelServiceStub, rounds: Iterable[int], timeout_s: float | None
) -> list[Answer]:
    """(image_a, image_b, similar) of every resolved label of ``rounds``, by round then pair
    id; no call when ``rounds`` is empty."""
    wanted = set(rounds)
    if not wanted:
        return []
    request = labels_pb2.GetResolvedLabelsRequest(up_to_round=max(wanted))
    reply = stub.GetResolvedLabels(request, timeout=timeout_s)
    return [(r.pair.image_a, r.pair.image_b, r.similar) for r in reply.labels if r.round in wanted]
