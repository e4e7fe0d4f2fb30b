"""Stands in for the coordinator in the bridge's tests and benchmark: ListRounds answering each
round's annotators per pair, behind the real access layer (TLS and tokens)."""

from __future__ import annotations

from typing import Any

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding, create_server
from services.security.local_setup import LocalSecurity
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier


class RoundSettings(coordinator_pb2_grpc.CoordinatorServiceServicer):  # type: ignore[misc]
    """Stands in for the coordinator: ListRounds with each round's annotators per pair."""

    def __init__(self) -> None:
        self.annotators_per_pair: dict[int, int] = {}

    def ListRounds(self, request: Any, context: Any) -> coordinator_pb2.ListRoundsResponse:
        return coordinator_pb2.ListRoundsResponse(
            rounds=[
                coordinator_pb2.RoundStatus(round=r, annotators_per_pair=n)
                for r, n in sorted(self.annotators_per_pair.items())
            ]
        )


def serve_round_settings(rounds: RoundSettings, local: LocalSecurity) -> tuple[AnnealServer, int]:
    """The started stand-in on a free loopback port, and its port."""
    binding = ServiceBinding.of(
        coordinator_pb2,
        "CoordinatorService",
        rounds,
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
    )
    security = ServerSecurity(
        tls=local.service_tls("coordinator"), tokens=TokenVerifier(local.tokens_file, 0.2)
    )
    server, port = create_server("127.0.0.1:0", [binding], security)
    server.start()
    return server, port
