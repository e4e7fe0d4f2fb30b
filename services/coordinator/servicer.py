"""CoordinatorService over gRPC: converts messages to :class:`Coordinator` calls and back."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from anneal.models.extraction_progress import ExtractionSnapshot
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.common.deadlines import time_left
from services.coordinator.annotators_per_pair import DEFAULT_ANNOTATORS_PER_PAIR
from services.coordinator.coordinator import Coordinator
from services.coordinator.round_status import RoundStatus, Serving

START_WAIT_S = 600.0


def round_message(status: RoundStatus) -> pb.RoundStatus:
    return pb.RoundStatus(
        round=status.round,
        state=pb.RoundState.Value(f"ROUND_STATE_{status.state.name}"),
        strategy=status.strategy,
        budget=status.budget,
        seed=status.seed,
        mode=status.mode,
        annotators_per_pair=status.annotators_per_pair,
        labelled_pairs=status.labelled_pairs,
        model_version=status.model_version,
        index_version=status.index_version,
        error=status.error,
        started_at_unix_ms=status.started_at_ms,
        updated_at_unix_ms=status.updated_at_ms,
        stage_seconds=status.stage_seconds,
        metrics=status.metrics,
    )


def extraction_message(extraction: ExtractionSnapshot) -> pb.ExtractionProgress:
    left = extraction.seconds_left
    return pb.ExtractionProgress(
        images_done=extraction.done,
        images_total=extraction.total,
        images_per_second=extraction.images_per_second,
        seconds_left=-1.0 if left is None else left,
        running=extraction.running,
    )


def status_message(
    status: RoundStatus | None, serving: Serving, extraction: ExtractionSnapshot | None = None
) -> pb.GetStatusResponse:
    reply = pb.GetStatusResponse(
        serving_index_version=serving.index_version,
        serving_model_version=serving.model_version,
    )
    if status is not None:
        reply.round.CopyFrom(round_message(status))
    if extraction is not None and extraction.started:
        reply.extraction.CopyFrom(extraction_message(extraction))
    return reply


class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServiceServicer):
    """The CoordinatorService methods, backed by one :class:`Coordinator`."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator

    def StartRound(
        self, request: pb.StartRoundRequest, context: grpc.ServicerContext
    ) -> pb.StartRoundResponse:
        remaining = time_left(context)
        wait_s = START_WAIT_S if remaining is None else min(START_WAIT_S, remaining)
        status = self._coordinator.start_round(
            request.strategy,
            request.budget,
            request.seed,
            request.close_when_answered,
            wait_s,
            request.mode or "head",
            request.annotators_per_pair or DEFAULT_ANNOTATORS_PER_PAIR,
        )
        return pb.StartRoundResponse(status=round_message(status))

    def CloseRound(
        self, request: pb.CloseRoundRequest, context: grpc.ServicerContext
    ) -> pb.CloseRoundResponse:
        return pb.CloseRoundResponse(
            status=round_message(self._coordinator.close_round(request.round))
        )

    def IngestArchive(
        self, request: pb.IngestArchiveRequest, context: grpc.ServicerContext
    ) -> pb.IngestArchiveResponse:
        report = self._coordinator.ingest()
        return pb.IngestArchiveResponse(
            added=report.added,
            unreadable=report.unreadable,
            index_version=report.index_version,
            model_version=report.model_version,
            indexed=report.indexed,
        )

    def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetStatusResponse:
        status = self._coordinator.status(request.round)
        return status_message(status, self._coordinator.serving(), self._coordinator.extraction())

    def WatchStatus(
        self, request: pb.WatchStatusRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetStatusResponse]:
        for status, serving, extraction in self._coordinator.watch(context.is_active):
            yield status_message(status, serving, extraction)

    def ListRounds(
        self, request: pb.ListRoundsRequest, context: grpc.ServicerContext
    ) -> pb.ListRoundsResponse:
        return pb.ListRoundsResponse(
            rounds=[round_message(status) for status in self._coordinator.rounds()]
        )
