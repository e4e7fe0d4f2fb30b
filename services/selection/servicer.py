"""SelectionService over gRPC: converts messages to :class:`SelectionRounds` calls and back."""

from __future__ import annotations

import grpc

from anneal.al.round_parameters import RoundParameters
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.common.deadlines import outgoing_timeout
from services.security.caller import current_caller
from services.security.principal import Role
from services.selection.pair_order import for_annotator
from services.selection.round_record import RoundArguments, RoundRecord
from services.selection.rounds import SelectionRounds

DOWNSTREAM_TIMEOUT_S = 120.0


def _info(record: RoundRecord, labelled: int) -> selection_pb2.RoundInfo:
    a, p = record.arguments, record.arguments.parameters
    return selection_pb2.RoundInfo(
        round=a.round,
        strategy=p.strategy,
        budget=p.budget,
        seed=p.seed,
        index_version=a.index_version,
        pairs=len(record.pairs),
        labelled_pairs=labelled,
        created_at_unix_ms=record.created_at_ms,
        selection_seconds=record.selection_seconds,
    )


class SelectionServicer(selection_pb2_grpc.SelectionServiceServicer):
    """The SelectionService methods, backed by one :class:`SelectionRounds`."""

    def __init__(self, rounds: SelectionRounds) -> None:
        self._rounds = rounds

    def StartRound(
        self, request: selection_pb2.StartRoundRequest, context: grpc.ServicerContext
    ) -> selection_pb2.StartRoundResponse:
        timeout = outgoing_timeout(context, DOWNSTREAM_TIMEOUT_S)
        parameters = RoundParameters(request.strategy, request.budget, request.seed)
        arguments = RoundArguments(request.round, parameters, request.index_version)
        record, created = self._rounds.start(arguments, timeout)
        labelled = 0 if created else self._rounds.labelled_pairs(request.round, timeout)
        return selection_pb2.StartRoundResponse(
            round=_info(record, labelled),
            pairs=[
                selection_pb2.Pair(pair_id=i, image_a=p.image_a, image_b=p.image_b, score=p.score)
                for i, p in enumerate(record.pairs)
            ],
            created=created,
        )

    def ListPendingPairs(
        self, request: selection_pb2.ListPendingPairsRequest, context: grpc.ServicerContext
    ) -> selection_pb2.ListPendingPairsResponse:
        timeout = outgoing_timeout(context, DOWNSTREAM_TIMEOUT_S)
        pending = self._rounds.pending(request.round, 0, timeout)
        caller = current_caller()
        annotator = caller.name if caller is not None and caller.role is Role.ANNOTATOR else None
        size = len(self._rounds.get(request.round).pairs)
        pending = for_annotator(pending, annotator, size, lambda p: p.pair_id)
        if request.limit:
            pending = pending[: request.limit]
        return selection_pb2.ListPendingPairsResponse(
            pairs=[
                selection_pb2.Pair(
                    pair_id=p.pair_id,
                    image_a=p.pair.image_a,
                    image_b=p.pair.image_b,
                    score=p.pair.score,
                )
                for p in pending
            ]
        )

    def GetRound(
        self, request: selection_pb2.GetRoundRequest, context: grpc.ServicerContext
    ) -> selection_pb2.GetRoundResponse:
        timeout = outgoing_timeout(context, DOWNSTREAM_TIMEOUT_S)
        record = self._rounds.get(request.round)
        labelled = self._rounds.labelled_pairs(request.round, timeout)
        return selection_pb2.GetRoundResponse(round=_info(record, labelled))
