"""Builds the selection service's gRPC server around :class:`SelectionRounds`."""

from __future__ import annotations

from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding
from services.common.server import create_server as create_common_server
from services.security.server_security import ServerSecurity
from services.selection.rounds import SelectionRounds
from services.selection.servicer import SelectionServicer


def create_server(
    address: str, rounds: SelectionRounds, *, security: ServerSecurity
) -> tuple[AnnealServer, int]:
    """The (not yet started) selection server bound to ``address``, and its port."""
    binding = ServiceBinding.of(
        selection_pb2,
        "SelectionService",
        SelectionServicer(rounds),
        selection_pb2_grpc.add_SelectionServiceServicer_to_server,
    )
    return create_common_server(address, [binding], security)
