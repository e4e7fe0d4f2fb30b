"""Builds a service's gRPC server: servicers plus health, reflection, metrics and error mapping.

Each service's ``create_server(address, ...)`` is a few lines around :func:`create_server`::

    binding = ServiceBinding.of(labels_pb2, "LabelService", servicer,
                                labels_pb2_grpc.add_LabelServiceServicer_to_server)
    return create_server(address, [binding], security)

Every call passes the access policy first (services/security/policy.py) unless the server was
built with ``ServerSecurity.insecure()``. With TLS the server also listens on an internal port
that requires mutual TLS, where other services call it with their certificates.

Health reports SERVING for every bound service (and for the empty name, the whole server) once
the server starts; :meth:`AnnealServer.graceful_stop` flips them to NOT_SERVING first so load
balancers stop sending calls, then lets in-flight calls finish within a grace period.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.call_retries import SERVER_KEEPALIVE_OPTIONS
from services.common.errors import ErrorMappingInterceptor
from services.common.metrics import MetricsInterceptor
from services.common.request_decoding import RequestDecodingInterceptor
from services.security.access_interceptor import AccessInterceptor
from services.security.server_security import ServerSecurity

_log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer, the generated function that adds it to a server, and its full service name."""

    full_name: str
    servicer: Any
    add_to_server: Callable[[Any, grpc.Server], None]

    @classmethod
    def of(
        cls,
        pb2_module: ModuleType,
        service: str,
        servicer: Any,
        add_to_server: Callable[[Any, grpc.Server], None],
    ) -> ServiceBinding:
        """Binds ``servicer`` to ``service`` as declared in a generated ``*_pb2`` module."""
        descriptor = pb2_module.DESCRIPTOR.services_by_name[service]
        return cls(descriptor.full_name, servicer, add_to_server)


class AnnealServer:
    """A started-or-not gRPC server with its health servicer; stop it with :meth:`graceful_stop`."""

    def __init__(
        self,
        server: grpc.Server,
        health_servicer: health.HealthServicer,
        service_names: Sequence[str],
        internal_port: int = 0,
        health_server: tuple[grpc.Server, int] | None = None,
    ) -> None:
        self.grpc_server = server
        self.health = health_servicer
        self.service_names = tuple(service_names)
        self.internal_port = internal_port
        """The mutual-TLS port other services call (0: none, the server runs without TLS)."""
        self._health_server = health_server[0] if health_server else None
        self.health_port = health_server[1] if health_server else 0
        """The plaintext health-only port (0: none)."""

    def start(self) -> None:
        """Starts serving and reports SERVING for every bound service."""
        self.grpc_server.start()
        if self._health_server is not None:
            self._health_server.start()
        for name in ("", *self.service_names):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def graceful_stop(self, grace: float | None = 5.0) -> threading.Event:
        """NOT_SERVING for all, then stops; in-flight calls get ``grace`` seconds to finish."""
        self.health.enter_graceful_shutdown()
        return self.stop(grace)

    def stop(self, grace: float | None = None) -> threading.Event:
        """Stops at once (cancelling in-flight calls after ``grace``), like ``grpc.Server.stop``."""
        if self._health_server is not None:
            self._health_server.stop(grace)
        return self.grpc_server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.grpc_server.wait_for_termination(timeout)

    def stop_on_signals(self, grace: float = 5.0) -> None:
        """SIGTERM or SIGINT -> :meth:`graceful_stop` (call from the main thread)."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            _log.info("signal %s: stopping gracefully within %.1fs", signum, grace)
            self.graceful_stop(grace)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def _bind(server: grpc.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"could not bind {address}; is the port in use?")
    return int(port)


def create_server(
    address: str,
    bindings: Sequence[ServiceBinding],
    security: ServerSecurity,
    max_workers: int = 16,
) -> tuple[AnnealServer, int]:
    """A server for ``bindings`` bound to ``address`` (``host:0`` picks a free port).

    Returns the server (not started) and the bound public port. Besides the servicers it
    serves grpc.health.v1 health and (if ``security.reflection``) server reflection, checks
    every call against the access policy, records metrics and maps exceptions to codes.
    Interceptors, outermost first: metrics (so every final code is counted), error mapping,
    request decoding (undecodable requests -> INVALID_ARGUMENT), then the access policy.
    """
    interceptors: list[grpc.ServerInterceptor] = [
        MetricsInterceptor(),
        ErrorMappingInterceptor(),
        RequestDecodingInterceptor(),
    ]
    if security.checks_callers:
        interceptors.append(AccessInterceptor(security.authenticator()))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            *SERVER_KEEPALIVE_OPTIONS,
        ],
    )
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [binding.full_name for binding in bindings]
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    if security.reflection:
        reflection.enable_server_reflection(
            (
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    tls = security.tls
    port = _bind(server, address, tls.public_server_credentials() if tls else None)
    internal_port = 0
    health_server = None
    if tls is not None:
        host = address.rpartition(":")[0]
        internal = f"{host}:{security.internal_port}"
        internal_port = _bind(server, internal, tls.internal_server_credentials())
        if security.health_port is not None:
            health_server = _health_only(f"{host}:{security.health_port}", health_servicer)
    return AnnealServer(server, health_servicer, names, internal_port, health_server), port


def _health_only(address: str, health_servicer: health.HealthServicer) -> tuple[grpc.Server, int]:
    """A plaintext server answering grpc.health.v1 only (the same statuses), for probes."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
        interceptors=[
            MetricsInterceptor(),
            ErrorMappingInterceptor(),
            RequestDecodingInterceptor(),
        ],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server, _bind(server, address, None)
