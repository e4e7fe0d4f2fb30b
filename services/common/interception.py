"""A base for server interceptors that wrap each call's behaviour, unary or streaming alike.

gRPC hands an interceptor one of four handler kinds; this base rebuilds the handler around the
wrapped behaviour so subclasses only say how to wrap a call whose response is one message
(:meth:`wrap_unary`) or a stream of messages (:meth:`wrap_streaming`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

Behavior = Callable[[Any, grpc.ServicerContext], Any]
StreamingBehavior = Callable[[Any, grpc.ServicerContext], Iterator[Any]]
Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True)
class MethodName:
    """``/anneal.labels.v1.LabelService/SubmitLabels`` split into service and method."""

    service: str
    method: str

    @property
    def full(self) -> str:
        """``/package.Service/Method``, as gRPC names it."""
        return f"/{self.service}/{self.method}"

    @classmethod
    def parse(cls, full_method: str) -> MethodName:
        service, _, method = full_method.lstrip("/").rpartition("/")
        return cls(service=service or "unknown", method=method or "unknown")


class BehaviorInterceptor(grpc.ServerInterceptor, ABC):
    """Wraps the behaviour of every method; subclasses fill the two wrapping hooks.

    gRPC asks for the handler on every call; the wrapped handler is built once per method and
    reused while the handler beneath stays the same object (it does: servicers are bound once),
    so a call pays for the wrappers' work, not for building them.
    """

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    @abstractmethod
    def wrap_unary(self, behavior: Behavior, method: MethodName) -> Behavior:
        """Wraps a behaviour that returns one response message."""

    @abstractmethod
    def wrap_streaming(self, behavior: StreamingBehavior, method: MethodName) -> StreamingBehavior:
        """Wraps a behaviour that returns an iterator of response messages."""

    def wrap_deserializer(
        self, deserializer: Deserializer | None, method: MethodName
    ) -> Deserializer | None:
        """The request deserializer to use; by default the one beneath, unchanged."""
        return deserializer

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        cached = self._wrapped.get(handler_call_details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, MethodName.parse(handler_call_details.method))
        self._wrapped[handler_call_details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: MethodName) -> grpc.RpcMethodHandler:
        serializers = {
            "request_deserializer": self.wrap_deserializer(handler.request_deserializer, method),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self.wrap_unary(handler.unary_unary, method), **serializers
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self.wrap_unary(handler.stream_unary, method), **serializers
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self.wrap_streaming(handler.unary_stream, method), **serializers
            )
        return grpc.stream_stream_rpc_method_handler(
            self.wrap_streaming(handler.stream_stream, method), **serializers
        )
