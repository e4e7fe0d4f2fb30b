"""Errors of calls to other services, turned into the project's exceptions with context.

The retrieval service passes a downstream status on (UNAVAILABLE stays UNAVAILABLE, NOT_FOUND
stays NOT_FOUND...) but says which call failed, and for a batch, which query; a caller may
override a code whose meaning changes on the way (e.g. an unknown model version is the system's
problem, not the client's).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import grpc

from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)

CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
)

_EXCEPTIONS: Mapping[grpc.StatusCode, type[Exception]] = MappingProxyType(
    {
        grpc.StatusCode.INVALID_ARGUMENT: ValueError,
        grpc.StatusCode.OUT_OF_RANGE: ValueError,
        grpc.StatusCode.NOT_FOUND: NotFoundError,
        grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
        grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
        grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
        grpc.StatusCode.DEADLINE_EXCEEDED: TimeoutError,
        grpc.StatusCode.UNAVAILABLE: UnavailableError,
        grpc.StatusCode.CANCELLED: UnavailableError,
    }
)


def downstream_error(
    exc: grpc.RpcError,
    what: str,
    overrides: Mapping[grpc.StatusCode, type[Exception]] | None = None,
) -> Exception:
    """The exception to raise for ``exc``, a failed call described by ``what``.

    Codes without a mapping (INTERNAL, UNKNOWN...) become RuntimeError, i.e. INTERNAL here.
    """
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    cls = (overrides or {}).get(code) or _EXCEPTIONS.get(code, RuntimeError)
    return cls(f"{what}: {details}")


def status_of(exc: grpc.RpcError) -> grpc.StatusCode:
    return exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
