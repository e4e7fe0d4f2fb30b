"""The gRPC metrics every gRPC service exports, the registry a service serves, and the interceptor.

Nothing here registers in prometheus_client's default registry: a process serves only the
registry :func:`metrics_registry` builds from the collectors it owns (docs/architecture.md names
the owner of each metric; the domain metrics live in ``services/<service>/metrics.py``), so no
service exports another's metric as a zero.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from prometheus_client.registry import Collector

from services.common.interception import (
    Behavior,
    BehaviorInterceptor,
    MethodName,
    StreamingBehavior,
)

_GRPC_LABELS = ("grpc_service", "grpc_method", "grpc_code")

GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    _GRPC_LABELS,
    registry=None,
)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its end on the server, by method and status code.",
    _GRPC_LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
GRPC_COLLECTORS: tuple[Collector, ...] = (GRPC_SERVER_HANDLED, GRPC_SERVER_HANDLING_SECONDS)
"""Exported by every gRPC service (the six of the catalog), recorded by MetricsInterceptor."""

PROCESS_COLLECTORS: tuple[Collector, ...] = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)
"""prometheus_client's ``process_*`` (start time: restarts), ``python_info`` and ``python_gc_*``."""


def metrics_registry(owned: Sequence[Collector]) -> CollectorRegistry:
    """A registry of the process collectors plus ``owned``, the collectors this process owns."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in (*PROCESS_COLLECTORS, *owned):
        registry.register(collector)
    return registry


def grpc_service_registry(domain: Sequence[Collector]) -> CollectorRegistry:
    """What a gRPC service serves: process and gRPC collectors, and its ``domain`` metrics."""
    return metrics_registry((*GRPC_COLLECTORS, *domain))


def start_metrics_server(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> int:
    """Serves ``registry`` on ``/metrics`` over HTTP on ``host:port`` (0: a free port); the port."""
    httpd, _thread = start_http_server(port, addr=host, registry=registry)
    return int(httpd.server_port)


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if code is None:
        if not context.is_active():  # the client cancelled or its deadline passed
            return "CANCELLED"
        code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
    return str(code.name)


class MetricsInterceptor(BehaviorInterceptor):
    """Counts and times every call by service, method and final status code.

    Put it first (outermost) so it sees the codes other interceptors and aborts set.
    """

    def _record(self, method: MethodName, code: str, started: float) -> None:
        labels = (method.service, method.method, code)
        GRPC_SERVER_HANDLED.labels(*labels).inc()
        GRPC_SERVER_HANDLING_SECONDS.labels(*labels).observe(time.perf_counter() - started)

    def wrap_unary(self, behavior: Behavior, method: MethodName) -> Behavior:
        def measured(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                self._record(method, _code_name(context, failed), started)

        return measured

    def wrap_streaming(self, behavior: StreamingBehavior, method: MethodName) -> StreamingBehavior:
        def measured(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            failed = True
            cancelled = False
            try:
                yield from behavior(request, context)
                failed = False
            except GeneratorExit:  # the client went away before the stream ended
                cancelled = True
                raise
            finally:
                code = "CANCELLED" if cancelled else _code_name(context, failed)
                self._record(method, code, started)

        return measured
