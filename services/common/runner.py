"""Runs one service process: logs, metrics endpoint, gRPC server, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.common.catalog import ServiceSpec
from services.common.logs import configure_logging
from services.common.metrics import start_metrics_server
from services.common.server import AnnealServer
from services.common.settings import CommonSettings

_log = logging.getLogger(__name__)


def run_service(
    spec: ServiceSpec,
    settings: CommonSettings,
    build: Callable[[str], tuple[AnnealServer, int]],
    grace_seconds: float = 5.0,
) -> None:
    """Starts ``build(address)``'s server and blocks until it has stopped (SIGTERM / SIGINT)."""
    configure_logging(spec.name, settings.log_level)
    metrics_port = start_metrics_server(settings.metrics_port, settings.host)
    server, port = build(settings.address)
    server.start()
    server.stop_on_signals(grace_seconds)
    _log.info(
        "serving %s on %s:%d",
        spec.full_service_name,
        settings.host,
        port,
        extra={"grpc_port": port, "metrics_port": metrics_port},
    )
    server.wait_for_termination()
    _log.info("stopped")
