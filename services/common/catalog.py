"""The services of the system: command, ports and proto names, exactly as docs/architecture.md.

This is the one place code reads them from; a test cross-checks it against the architecture page
and the Kubernetes manifests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ServiceSpec:
    """One service: how it is started, where it listens, and its gRPC names."""

    name: str
    module: str
    grpc_port: int
    metrics_port: int
    internal_port: int
    health_port: int
    proto_package: str
    grpc_service: str

    @property
    def command(self) -> tuple[str, ...]:
        """The command line that starts the service, e.g. ``python -m services.labels``."""
        return ("python", "-m", self.module)

    @property
    def spiffe_id(self) -> str:
        """The identity in this service's certificate (a URI SAN), checked on mutual TLS."""
        return f"spiffe://anneal/service/{self.name}"

    @property
    def full_service_name(self) -> str:
        """Fully qualified gRPC service name, as used by health checks and reflection."""
        return f"{self.proto_package}.{self.grpc_service}"


INTERNAL_PORT_OFFSET = 1000
"""A service's mutual-TLS port for calls from other services is its gRPC port + 1000."""
HEALTH_PORT_OFFSET = 2000
"""With TLS on, grpc.health.v1 alone is also served in plaintext on gRPC port + 2000, for
probes that cannot speak TLS (the kubelet's gRPC probes)."""


def _spec(name: str, grpc_port: int, metrics_port: int, grpc_service: str) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        module=f"services.{name}",
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        internal_port=grpc_port + INTERNAL_PORT_OFFSET,
        health_port=grpc_port + HEALTH_PORT_OFFSET,
        proto_package=f"anneal.{name}.v1",
        grpc_service=grpc_service,
    )


WEB_PORT = 8080
"""The web app's HTTP port (``python -m services.web``; not a gRPC service, so not in SERVICES)."""
WEB_METRICS_PORT = 9107
"""The web app's Prometheus port."""
LABELSTUDIO_PORT = 8090
"""The Label Studio bridge's HTTP port (webhooks; ``python -m services.labelstudio``)."""
LABELSTUDIO_METRICS_PORT = 9108
"""The Label Studio bridge's Prometheus port."""

SERVICES: Mapping[str, ServiceSpec] = MappingProxyType(
    {
        "retrieval": _spec("retrieval", 50051, 9101, "RetrievalService"),
        "embedding": _spec("embedding", 50052, 9102, "EmbeddingService"),
        "search": _spec("search", 50053, 9103, "SearchService"),
        "selection": _spec("selection", 50054, 9104, "SelectionService"),
        "labels": _spec("labels", 50055, 9105, "LabelService"),
        "coordinator": _spec("coordinator", 50056, 9106, "CoordinatorService"),
    }
)
