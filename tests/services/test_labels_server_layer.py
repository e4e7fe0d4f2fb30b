"""The common server layer the label service runs on: exception -> status code mapping for unary
and streaming calls, and deadline propagation, through a real server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from services.common.deadlines import outgoing_timeout
from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
    status_code_for,
    status_message,
)
from services.common.server import AnnealServer, ServiceBinding, create_server
from services.security.server_security import ServerSecurity

Serve = Callable[[tuple[AnnealServer, int]], grpc.Channel]
Code = grpc.StatusCode

INSECURE = ServerSecurity.insecure()


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValueError("x"), Code.INVALID_ARGUMENT),
        (AlreadyExistsError("x"), Code.ALREADY_EXISTS),  # more specific than its ValueError base
        (KeyError("x"), Code.NOT_FOUND),
        (NotFoundError("x"), Code.NOT_FOUND),
        (IndexError("x"), Code.OUT_OF_RANGE),
        (FileNotFoundError("x"), Code.NOT_FOUND),
        (FailedPreconditionError("x"), Code.FAILED_PRECONDITION),
        (ResourceExhaustedError("x"), Code.RESOURCE_EXHAUSTED),
        (MemoryError("x"), Code.RESOURCE_EXHAUSTED),
        (TimeoutError("x"), Code.DEADLINE_EXCEEDED),
        (PermissionError("x"), Code.PERMISSION_DENIED),
        (UnavailableError("x"), Code.UNAVAILABLE),
        (NotImplementedError("x"), Code.UNIMPLEMENTED),
        (RuntimeError("x"), Code.INTERNAL),
        (ZeroDivisionError("x"), Code.INTERNAL),
    ],
)
def test_status_code_for(exc: Exception, code: grpc.StatusCode) -> None:
    assert status_code_for(exc) == code


def test_key_error_message_has_no_quotes() -> None:
    assert status_message(KeyError("round 3")) == "round 3"


def _timeout(request: bytes, context: grpc.ServicerContext) -> bytes:
    return repr(outgoing_timeout(context, default=30.0)).encode()


def _boom(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise RuntimeError("secret internals")


def _count_then_fail(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"1"
    yield b"2"
    raise ValueError("stream input 3 is malformed")


@pytest.fixture
def channel(serve: Serve) -> grpc.Channel:
    handler = grpc.method_handlers_generic_handler(
        "test.Probe",
        {
            "Timeout": grpc.unary_unary_rpc_method_handler(_timeout),
            "Boom": grpc.unary_unary_rpc_method_handler(_boom),
            "Count": grpc.unary_stream_rpc_method_handler(_count_then_fail),
        },
    )
    binding = ServiceBinding(
        "test.Probe", handler, lambda servicer, server: server.add_generic_rpc_handlers((servicer,))
    )
    return serve(create_server("127.0.0.1:0", [binding], security=INSECURE))


def test_deadline_is_passed_on(channel: grpc.Channel) -> None:
    call = channel.unary_unary("/test.Probe/Timeout")
    assert float(call(b"", timeout=2.0)) < 2.0
    assert float(call(b"", timeout=2.0)) > 1.0
    assert float(call(b"")) == 30.0  # no deadline from the caller: the default


def test_unexpected_exception_is_internal_without_details(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/test.Probe/Boom")(b"", timeout=5)
    assert caught.value.code() == Code.INTERNAL
    assert "RuntimeError" in caught.value.details()
    assert "secret" not in caught.value.details()


def test_streaming_error_is_mapped_after_the_messages_sent(channel: grpc.Channel) -> None:
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for message in channel.unary_stream("/test.Probe/Count")(b"", timeout=5):
            received.append(message)
    assert received == [b"1", b"2"]
    assert caught.value.code() == Code.INVALID_ARGUMENT
    assert caught.value.details() == "stream input 3 is malformed"
