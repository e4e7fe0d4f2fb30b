"""Project exceptions and their gRPC status codes, applied at the servicer boundary.

Library and service code raises builtin exceptions (or the few subclasses below, which subclass
builtins); :class:`ErrorMappingInterceptor` turns them into a precise status code with the
exception's message, so servicers never call ``context.abort`` themselves. The most specific class
in an exception's MRO decides the code; anything unmapped is INTERNAL and logged with its trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import grpc

from anneal.errors import ImageTooLargeError
from services.common.interception import BehaviorInterceptor, MethodName
from services.common.shown import cleaned

_log = logging.getLogger(__name__)


class NotFoundError(LookupError):
    """A named thing (round, image, model version...) does not exist: NOT_FOUND."""


class AlreadyExistsError(ValueError):
    """The thing exists already with different content: ALREADY_EXISTS."""


class FailedPreconditionError(RuntimeError):
    """The system is not in a state that allows the call (closed round...): FAILED_PRECONDITION."""


class ResourceExhaustedError(RuntimeError):
    """A size or capacity limit was hit (e.g. an oversized image): RESOURCE_EXHAUSTED."""


class UnauthenticatedError(PermissionError):
    """The caller sent no credential, or one that is not valid (any more): UNAUTHENTICATED."""


class UnavailableError(ConnectionError):
    """A store or downstream service failed transiently; retrying may work: UNAVAILABLE."""


STATUS_CODES: Mapping[type[BaseException], grpc.StatusCode] = MappingProxyType(
    {
        NotFoundError: grpc.StatusCode.NOT_FOUND,
        AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
        FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
        ResourceExhaustedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
        ImageTooLargeError: grpc.StatusCode.RESOURCE_EXHAUSTED,  # the library's size limits
        UnavailableError: grpc.StatusCode.UNAVAILABLE,
        UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
        ValueError: grpc.StatusCode.INVALID_ARGUMENT,
        IndexError: grpc.StatusCode.OUT_OF_RANGE,
        LookupError: grpc.StatusCode.NOT_FOUND,
        FileExistsError: grpc.StatusCode.ALREADY_EXISTS,
        FileNotFoundError: grpc.StatusCode.NOT_FOUND,
        PermissionError: grpc.StatusCode.PERMISSION_DENIED,
        TimeoutError: grpc.StatusCode.DEADLINE_EXCEEDED,
        ConnectionError: grpc.StatusCode.UNAVAILABLE,
        MemoryError: grpc.StatusCode.RESOURCE_EXHAUSTED,
        OverflowError: grpc.StatusCode.RESOURCE_EXHAUSTED,
        NotImplementedError: grpc.StatusCode.UNIMPLEMENTED,
    }
)


def status_code_for(exc: BaseException) -> grpc.StatusCode:
    """The status code of an exception: its most specific mapped class, else INTERNAL.

    A ``grpc.RpcError`` from an outgoing call keeps the downstream code.
    """
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return exc.code()
    for cls in type(exc).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def status_message(exc: BaseException) -> str:
    """The message sent to the client (a KeyError's message without repr quotes), cleaned of
    anything a client must not see (services/common/shown.py)."""
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return cleaned(f"downstream call failed: {exc.details()}")
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return cleaned(str(exc.args[0]))
    return cleaned(str(exc) or type(exc).__name__)


def abort_with(context: grpc.ServicerContext, exc: Exception) -> NoReturn:
    """Ends the call with the status of ``exc``; re-raises calls the servicer aborted itself."""
    if context.code() is not None:  # already aborted / status set by the servicer
        raise exc
    code = status_code_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        _log.exception("unhandled %s in servicer", type(exc).__name__)
        context.abort(code, f"internal error ({type(exc).__name__}); see the server log")
    context.abort(code, status_message(exc))
    raise AssertionError("grpc's context.abort always raises")  # for type checkers


class ErrorMappingInterceptor(BehaviorInterceptor):
    """Maps exceptions raised by servicers (unary or streaming) to status codes."""

    def wrap_unary(
        self, behavior: Callable[[Any, grpc.ServicerContext], Any], method: MethodName
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def mapped(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return behavior(request, context)
            except Exception as exc:
                abort_with(context, exc)

        return mapped

    def wrap_streaming(
        self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: MethodName
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def mapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from behavior(request, context)
            except Exception as exc:
                abort_with(context, exc)

        return mapped
