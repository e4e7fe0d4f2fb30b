"""gRPC's retry policy on every channel (services/common/call_retries.py), on a loopback server:
an idempotent call that meets UNAVAILABLE is repeated, a non-idempotent one is not, and a patient
channel waits for a service that is starting instead of failing."""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.common.call_retries import (
    IDEMPOTENT,
    NOT_RETRIED,
    SERVER_KEEPALIVE_OPTIONS,
    channel_options,
)
from services.common.catalog import SERVICES
from services.security.channels import ChannelSecurity


class Flaky(labels_pb2_grpc.LabelServiceServicer, coordinator_pb2_grpc.CoordinatorServiceServicer):  # type: ignore[misc]
    """Answers UNAVAILABLE to the first ``failures`` calls of each method, then OK."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}

    def _attempt(self, method: str, context: grpc.ServicerContext) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.calls[method] <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting; retry")

    def GetRoundProgress(self, request, context):  # type: ignore[no-untyped-def]
        self._attempt("GetRoundProgress", context)
        return labels_pb2.GetRoundProgressResponse(labelled_pairs=3)

    def StartRound(self, request, context):  # type: ignore[no-untyped-def]
        self._attempt("StartRound", context)
        return coordinator_pb2.StartRoundResponse()


def serve(servicer: Flaky, port: int = 0) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    labels_pb2_grpc.add_LabelServiceServicer_to_server(servicer, server)
    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


@pytest.fixture
def flaky() -> Iterator[tuple[Flaky, grpc.Channel]]:
    servicer = Flaky(failures=2)
    server, port = serve(servicer)
    channel = ChannelSecurity().channel(f"127.0.0.1:{port}")
    yield servicer, channel
    channel.close()
    server.stop(None)


def test_an_idempotent_call_is_repeated_after_unavailable(flaky) -> None:
    servicer, channel = flaky
    reply = labels_pb2_grpc.LabelServiceStub(channel).GetRoundProgress(
        labels_pb2.GetRoundProgressRequest(round=1), timeout=10
    )
    assert reply.labelled_pairs == 3 and servicer.calls["GetRoundProgress"] == 3


def test_a_call_that_is_not_idempotent_is_tried_once(flaky) -> None:
    servicer, channel = flaky
    with pytest.raises(grpc.RpcError) as failed:
        coordinator_pb2_grpc.CoordinatorServiceStub(channel).StartRound(
            coordinator_pb2.StartRoundRequest(), timeout=10
        )
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls["StartRound"] == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_patient_channel_waits_for_a_service_that_comes_up() -> None:
    port = _free_port()
    started: list[grpc.Server] = []
    timer = threading.Timer(1.0, lambda: started.append(serve(Flaky(0), port)[0]))
    timer.start()
    channel = ChannelSecurity().channel(f"127.0.0.1:{port}")
    try:
        reply = labels_pb2_grpc.LabelServiceStub(channel).GetRoundProgress(
            labels_pb2.GetRoundProgressRequest(round=1), timeout=10
        )
        assert reply.labelled_pairs == 3
    finally:
        timer.join()
        channel.close()
        for server in started:
            server.stop(None)


def test_an_impatient_channel_reports_a_down_service_long_before_the_deadline() -> None:
    channel = ChannelSecurity().channel(f"127.0.0.1:{_free_port()}", wait_for_ready=False)
    started = time.monotonic()
    with channel, pytest.raises(grpc.RpcError) as failed:
        labels_pb2_grpc.LabelServiceStub(channel).GetRoundProgress(
            labels_pb2.GetRoundProgressRequest(round=1), timeout=60
        )
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 15  # 5 tries with back-off, not 60 s of waiting


def test_the_policy_classifies_every_method_once() -> None:
    names = {spec.full_service_name for spec in SERVICES.values()}
    assert set(IDEMPOTENT) == names
    for spec in SERVICES.values():
        pb2 = importlib.import_module(f"annealpb.{spec.name}.v1.{spec.name}_pb2")
        methods = pb2.DESCRIPTOR.services_by_name[spec.grpc_service].methods_by_name
        retried = set(IDEMPOTENT[spec.full_service_name])
        left = set(NOT_RETRIED.get(spec.full_service_name, ()))
        assert not retried & left, spec.name
        assert retried | left == set(methods), spec.name


def test_servers_accept_the_keepalive_pings_channels_send() -> None:
    client = dict(channel_options(wait_for_ready=True))
    server = dict(SERVER_KEEPALIVE_OPTIONS)
    assert client["grpc.keepalive_permit_without_calls"] == 1
    assert server["grpc.keepalive_permit_without_calls"] == 1
    # A server answers pings closer together than its minimum with GOAWAY too_many_pings.
    assert (
        server["grpc.http2.min_recv_ping_interval_without_data_ms"]
        < client["grpc.keepalive_time_ms"]
    )
