"""Builds the coordinator's gRPC server around a :class:`Coordinator`."""

from __future__ import annotations

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding
from services.common.server import create_server as create_common_server
from services.coordinator.coordinator import Coordinator
from services.coordinator.servicer import CoordinatorServicer
from services.security.server_security import ServerSecurity


def create_server(
    address: str, coordinator: Coordinator, *, security: ServerSecurity
) -> tuple[AnnealServer, int]:
    """The (not yet started) coordinator server bound to ``address``, and its port."""
    binding = ServiceBinding.of(
        coordinator_pb2,
        "CoordinatorService",
        CoordinatorServicer(coordinator),
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
    )
    return create_common_server(address, [binding], security)
