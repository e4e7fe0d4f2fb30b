"""The resolved answers of a set of rounds, read from the label service in one call.

Training (the coordinator) and selection both need every earlier round's answers each round.
One ``GetResolvedLabels(up_to_round=max)`` replaces a call per round; the answers of rounds not
asked for (e.g. imported ones the caller does not know) are left out, so the result is the union
of the per-round calls. The callers make the call themselves (so the call shows in their code,
where tests/call_edges.py reads who calls whom).
"""

from __future__ import annotations

from collections.abc import Collection

from anneal.al.labelled_pairs import Answer
from annealpb.labels.v1 import labels_pb2


def up_to_request(rounds: Collection[int]) -> labels_pb2.GetResolvedLabelsRequest:
    """The one request that covers ``rounds`` (not empty)."""
    return labels_pb2.GetResolvedLabelsRequest(up_to_round=max(rounds))


def answers_of(
    reply: labels_pb2.GetResolvedLabelsResponse, rounds: Collection[int]
) -> list[Answer]:
    """(image_a, image_b, similar) of the labels of ``reply`` that belong to ``rounds``, in the
    reply's order (by round, then pair id)."""
    return [(r.pair.image_a, r.pair.image_b, r.similar) for r in reply.labels if r.round in rounds]
