"""Asking a service's grpc.health.v1 how it is: one answer word, for status views."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.catalog import SERVICES


def health_of(name: str, channel: grpc.Channel, timeout_s: float = 2.0) -> str:
    """``serving``, ``not_serving``, or the lower-case gRPC code of a failed check."""
    request = health_pb2.HealthCheckRequest(service=SERVICES[name].full_service_name)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout_s)
    except grpc.RpcError as exc:
        return str(exc.code().name).lower()
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)).lower()
