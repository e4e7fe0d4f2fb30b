"""Runs one service process: logs, metrics endpoint, gRPC server, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from prometheus_client.registry import Collector

from services.common.catalog import ServiceSpec
from services.common.logs import configure_logging
from services.common.metrics import grpc_service_registry, start_metrics_server
from services.common.server import AnnealServer
from services.common.settings import CommonSettings
from services.security.server_security import ServerSecurity

_log = logging.getLogger(__name__)


def run_service(
    spec: ServiceSpec,
    settings: CommonSettings,
    build: Callable[[str, ServerSecurity], tuple[AnnealServer, int]],
    metrics: Sequence[Collector] = (),
    grace_seconds: float = 5.0,
) -> None:
    """Starts ``build(address, security)``'s server; blocks until it stops (SIGTERM / SIGINT).

    ``/metrics`` serves the gRPC metrics and ``metrics``, the domain metrics this service owns.
    """
    configure_logging(spec.name, settings.log_level)
    try:
        security = settings.security.server()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not security.checks_callers:
        _log.warning(
            "INSECURE: no TLS and no access control; anyone who reaches %s may call anything",
            settings.address,
        )
    registry = grpc_service_registry(metrics)
    metrics_port = start_metrics_server(registry, settings.metrics_port, settings.host)
    server, port = build(settings.address, security)
    server.start()
    server.stop_on_signals(grace_seconds)
    _log.info(
        "serving %s on %s:%d",
        spec.full_service_name,
        settings.host,
        port,
        extra={
            "grpc_port": port,
            "internal_port": server.internal_port,
            "metrics_port": metrics_port,
            "tls": security.tls is not None,
        },
    )
    server.wait_for_termination()
    _log.info("stopped")
