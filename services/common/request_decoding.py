"""Refuses requests that are not valid protobuf messages with INVALID_ARGUMENT, counted by code.

grpc-python decodes a request before any interceptor's behaviour runs, and a decoding error (bytes
that are not the method's message, invalid UTF-8 in a string field) ends the call INTERNAL
"Exception deserializing request!", unseen by the metrics. This interceptor swaps each method's
request deserializer for one that returns a :class:`Malformed` marker instead of raising; the
wrapped behaviour refuses the marker (or, for a request stream, the first marked message) with a
``ValueError``, which the error mapping outside it turns into INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from services.common.interception import (
    Behavior,
    BehaviorInterceptor,
    Deserializer,
    MethodName,
    StreamingBehavior,
)


@dataclass(frozen=True)
class Malformed:
    """Stands for a request message that could not be decoded."""

    type_name: str

    def refusal(self) -> ValueError:
        return ValueError(
            f"request is not a valid {self.type_name} message (its bytes do not decode: not "
            "protobuf, or a string field that is not UTF-8); send the message the method's "
            "proto declares"
        )


def request_type_name(method: MethodName) -> str:
    """``anneal.labels.v1.SubmitLabelsRequest`` for SubmitLabels (``request`` if unknown)."""
    try:
        found = descriptor_pool.Default().FindMethodByName(f"{method.service}.{method.method}")
    except KeyError:
        return "request"
    return str(found.input_type.full_name)


def _refusing_markers(stream: Iterator[Any]) -> Iterator[Any]:
    for message in stream:
        if isinstance(message, Malformed):
            raise message.refusal()
        yield message


def _checked(request: Any) -> Any:
    """The request itself, or its stream with markers refused; a marker raises at once."""
    if isinstance(request, Malformed):
        raise request.refusal()
    if isinstance(request, Iterator):  # a client stream (a message or raw bytes is not one)
        return _refusing_markers(request)
    return request


class RequestDecodingInterceptor(BehaviorInterceptor):
    """Turns undecodable requests into INVALID_ARGUMENT; sit it inside the error mapping."""

    def wrap_deserializer(
        self, deserializer: Deserializer | None, method: MethodName
    ) -> Deserializer | None:
        if deserializer is None:
            return None
        marker = Malformed(request_type_name(method))
        decode: Callable[[bytes], Any] = deserializer

        def tolerant(data: bytes) -> Any:
            try:
                return decode(data)
            except Exception:  # DecodeError, or anything else the parser raises on hostile bytes
                return marker

        return tolerant

    def wrap_unary(self, behavior: Behavior, method: MethodName) -> Behavior:
        def decoded(request: Any, context: grpc.ServicerContext) -> Any:
            return behavior(_checked(request), context)

        return decoded

    def wrap_streaming(self, behavior: StreamingBehavior, method: MethodName) -> StreamingBehavior:
        def decoded(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            return behavior(_checked(request), context)

        return decoded
