"""What selection asks the label service: register a round, its progress, earlier answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc

from anneal.al.labelled_pairs import Answer
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.common.earlier_answers import answers_of, up_to_request
from services.selection.round_record import SelectedPair


class LabelClient:
    """A thin client of the label service for the calls selection makes."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = labels_pb2_grpc.LabelServiceStub(channel)

    def open_round(
        self, round_number: int, pairs: Sequence[SelectedPair], timeout_s: float | None
    ) -> None:
        """Register the round's pairs (idempotent for the same pairs)."""
        request = labels_pb2.OpenRoundRequest(
            round=round_number,
            pairs=[labels_pb2.ImagePair(image_a=p.image_a, image_b=p.image_b) for p in pairs],
        )
        self._stub.OpenRound(request, timeout=timeout_s)

    def unlabelled_pair_ids(self, round_number: int, timeout_s: float | None) -> set[int]:
        """Ids of the round's pairs without any label."""
        request = labels_pb2.ListPairsRequest(round=round_number, only_unlabelled=True)
        reply = self._stub.ListPairs(request, timeout=timeout_s)
        return {p.pair_id for p in reply.pairs}

    def labelled_pairs(self, round_number: int, timeout_s: float | None) -> int:
        """Pairs of the round with at least one label."""
        request = labels_pb2.GetRoundProgressRequest(round=round_number)
        return int(self._stub.GetRoundProgress(request, timeout=timeout_s).labelled_pairs)

    def resolved(self, rounds: Iterable[int], timeout_s: float | None) -> list[Answer]:
        """(image_a, image_b, similar) of every resolved label of ``rounds``, in one call."""
        wanted = set(rounds)
        if not wanted:
            return []
        reply = self._stub.GetResolvedLabels(up_to_request(wanted), timeout=timeout_s)
        return answers_of(reply, wanted)
