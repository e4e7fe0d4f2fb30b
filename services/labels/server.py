"""Builds the label service's gRPC server around a :class:`LabelStore`."""

from __future__ import annotations

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding
from services.common.server import create_server as create_common_server
from services.labels.backup import LabelBackup
from services.labels.servicer import LabelServicer
from services.labels.store import LabelStore
from services.security.server_security import ServerSecurity


def create_server(
    address: str,
    store: LabelStore,
    *,
    security: ServerSecurity,
    backup: LabelBackup | None = None,
) -> tuple[AnnealServer, int]:
    """The (not yet started) label server bound to ``address``, and its port; ``backup``
    serves BackupLabels (without it, the call is refused)."""
    binding = ServiceBinding.of(
        labels_pb2,
        "LabelService",
        LabelServicer(store, backup),
        labels_pb2_grpc.add_LabelServiceServicer_to_server,
    )
    return create_common_server(address, [binding], security)
