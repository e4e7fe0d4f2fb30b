"""The gRPC calls the web app makes, each with the signed-in person's own token.

One channel per service (public ports, the CA when TLS is on), shared by every session; the
caller's token goes as per-call metadata, so each service checks that person's role itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.common.health_check import health_of
from services.security.channels import ChannelSecurity

TIMEOUT_S = 30.0


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


class SystemClient:
    """Stubs of retrieval, selection, labels and coordinator, and health of all six."""

    def __init__(self, addresses: Mapping[str, str], security: ChannelSecurity) -> None:
        """``addresses``: ``host:port`` of each service's public port, by service name."""
        self.addresses = dict(addresses)
        self._channels = {
            name: security.channel(address) for name, address in self.addresses.items()
        }
        self.retrieval = retrieval_pb2_grpc.RetrievalServiceStub(self._channels["retrieval"])
        self.selection = selection_pb2_grpc.SelectionServiceStub(self._channels["selection"])
        self.labels = labels_pb2_grpc.LabelServiceStub(self._channels["labels"])
        self.coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(
            self._channels["coordinator"]
        )

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    # -- queries ------------------------------------------------------------------------------

    def retrieve(
        self, token: str, query: retrieval_pb2.Query, k: int
    ) -> retrieval_pb2.RetrieveResponse:
        request = retrieval_pb2.RetrieveRequest(
            query=query, k=k, exclude_query_image=query.WhichOneof("query") == "image_id"
        )
        return self.retrieval.Retrieve(request, timeout=TIMEOUT_S, metadata=_metadata(token))

    # -- rounds -------------------------------------------------------------------------------

    def status(self, token: str, round_number: int = 0) -> coordinator_pb2.GetStatusResponse:
        request = coordinator_pb2.GetStatusRequest(round=round_number)
        return self.coordinator.GetStatus(request, timeout=TIMEOUT_S, metadata=_metadata(token))

    def rounds(self, token: str) -> list[coordinator_pb2.RoundStatus]:
        reply = self.coordinator.ListRounds(
            coordinator_pb2.ListRoundsRequest(), timeout=TIMEOUT_S, metadata=_metadata(token)
        )
        return list(reply.rounds)

    def watch(self, token: str) -> Any:
        """Status changes as they happen: an iterator of GetStatusResponse that is also a
        grpc.Call (``cancel()`` stops it)."""
        return self.coordinator.WatchStatus(
            coordinator_pb2.WatchStatusRequest(), metadata=_metadata(token)
        )

    def start_round(
        self, token: str, strategy: str, budget: int, mode: str, annotators_per_pair: int
    ) -> coordinator_pb2.RoundStatus:
        request = coordinator_pb2.StartRoundRequest(
            strategy=strategy,
            budget=budget,
            close_when_answered=True,
            mode=mode,
            annotators_per_pair=annotators_per_pair,
        )
        reply = self.coordinator.StartRound(request, timeout=600, metadata=_metadata(token))
        return reply.status

    def close_round(self, token: str, round_number: int) -> coordinator_pb2.RoundStatus:
        request = coordinator_pb2.CloseRoundRequest(round=round_number)
        reply = self.coordinator.CloseRound(request, timeout=TIMEOUT_S, metadata=_metadata(token))
        return reply.status

    def fraction_similar(self, token: str, round_number: int) -> float | None:
        """Share of the round's resolved answers that are 'similar' (operators may read it)."""
        request = labels_pb2.GetResolvedLabelsRequest(round=round_number)
        reply = self.labels.GetResolvedLabels(request, timeout=TIMEOUT_S, metadata=_metadata(token))
        if not reply.labels:
            return None
        return sum(1 for label in reply.labels if label.similar) / len(reply.labels)

    # -- labelling ----------------------------------------------------------------------------

    def pending(self, token: str, round_number: int) -> list[selection_pb2.Pair]:
        request = selection_pb2.ListPendingPairsRequest(round=round_number)
        reply = self.selection.ListPendingPairs(
            request, timeout=TIMEOUT_S, metadata=_metadata(token)
        )
        return list(reply.pairs)

    def progress(self, token: str, round_number: int) -> labels_pb2.GetRoundProgressResponse:
        request = labels_pb2.GetRoundProgressRequest(round=round_number)
        return self.labels.GetRoundProgress(request, timeout=TIMEOUT_S, metadata=_metadata(token))

    def submit(
        self, token: str, round_number: int, pair_id: int, similar: bool, key: str
    ) -> labels_pb2.SubmitLabelsResponse:
        label = labels_pb2.Label(
            round=round_number, pair_id=pair_id, similar=similar, idempotency_key=key
        )
        request = labels_pb2.SubmitLabelsRequest(labels=[label])
        return self.labels.SubmitLabels(request, timeout=TIMEOUT_S, metadata=_metadata(token))

    def withdraw(self, token: str, round_number: int, key: str) -> None:
        request = labels_pb2.WithdrawLabelRequest(round=round_number, idempotency_key=key)
        self.labels.WithdrawLabel(request, timeout=TIMEOUT_S, metadata=_metadata(token))

    # -- health -------------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """``serving`` / ``not_serving`` / ``unavailable`` ... per service (health is open)."""
        return {name: health_of(name, channel) for name, channel in self._channels.items()}
