"""The Prometheus metrics of docs/architecture.md, and the interceptor that records gRPC calls.

Metric objects live in prometheus_client's default registry (the one ``/metrics`` serves), so
every service process exposes the same names; a service sets only the domain metrics it owns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its end on the server, by method and status code.",
    _GRPC_LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

INDEX_VERSION = Gauge("anneal_index_version", "Version of the index serving queries.")
INDEX_REBUILD_SECONDS = Histogram(
    "anneal_index_rebuild_seconds",
    "Time to build, load and verify a new index version.",
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)
INDEX_REBUILD_FAILURES = Counter(
    "anneal_index_rebuild_failures_total",
    "Index rebuilds that failed (the old index kept serving).",
)
ROUND = Gauge("anneal_round", "Current active-learning round number.")
ROUND_STATE = Gauge(
    "anneal_round_state", "1 for the current state of the current round, 0 otherwise.", ["state"]
)
LABELLED_PAIRS = Counter("anneal_labelled_pairs_total", "Pairs that received their first label.")
LABEL_STORE_WRITE_ERRORS = Counter(
    "anneal_label_store_write_errors_total", "Label writes that failed to commit."
)
EVAL_MAP = Gauge("anneal_eval_map", "Latest evaluation mAP@k.", ["k"])
EMBEDDING_IMAGES_PER_SECOND = Gauge(
    "anneal_embedding_images_per_second", "Recent embedding throughput of the worker pool."
)
EMBEDDING_WORKERS_READY = Gauge(
    "anneal_embedding_workers_ready", "Embedding workers (Ray actors) ready to take batches."
)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> int:
    """Serves ``/metrics`` over HTTP on ``host:port`` (0 picks a free port); returns the port."""
    httpd, _thread = start_http_server(port, addr=host)
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
