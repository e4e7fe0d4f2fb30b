"""The server interceptor that enforces the access policy on every call, unary or streaming.

Per call: look up the method's rule (:mod:`services.security.policy`; unlisted = closed),
authenticate the caller unless the rule is open, refuse with UNAUTHENTICATED or
PERMISSION_DENIED (audited), then serve the call as that caller (``current_caller()``), with
an audit line afterwards for admin methods. It sits inside the metrics and error-mapping
interceptors, so refusals are counted by code and reach the client as a status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.message import Message

from services.common.errors import status_code_for
from services.common.interception import (
    Behavior,
    BehaviorInterceptor,
    MethodName,
    StreamingBehavior,
)
from services.security import audit
from services.security.authenticator import Authenticator
from services.security.caller import acting_as
from services.security.policy import Rule, rule_for
from services.security.principal import Principal
from services.security.refusals import CallRefused, NotAllowed


class _FirstMessage:
    """Wraps a request stream and keeps its first message (for the audit line)."""

    def __init__(self, stream: Iterator[Any]) -> None:
        self._stream = stream
        self.first: Message | None = None

    def __iter__(self) -> Iterator[Any]:
        for message in self._stream:
            if self.first is None:
                self.first = message
            yield message


class AccessInterceptor(BehaviorInterceptor):
    """Admits a call only when the policy allows its authenticated caller."""

    def __init__(self, authenticator: Authenticator) -> None:
        super().__init__()
        self._authenticator = authenticator

    def _admit(self, method: str, rule: Rule, context: grpc.ServicerContext) -> Principal | None:
        if rule.open:
            return None
        caller: Principal | None = None
        try:
            caller = self._authenticator.authenticate(method, context)
            if not rule.allows(caller):
                raise NotAllowed(method, caller, rule)
        except CallRefused as exc:
            audit.refused(method, caller, status_code_for(exc).name, str(exc))
            raise
        return caller

    def wrap_unary(self, behavior: Behavior, method: MethodName) -> Behavior:
        full = method.full
        rule = rule_for(full)

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            caller = self._admit(full, rule, context)
            if caller is None:
                return behavior(request, context)
            with acting_as(caller):
                if not rule.audit:
                    return behavior(request, context)
                stream = None if isinstance(request, Message) else _FirstMessage(request)
                code = "OK"
                try:
                    return behavior(request if stream is None else iter(stream), context)
                except Exception as exc:
                    code = status_code_for(exc).name
                    raise
                finally:
                    audit.action(full, caller, request if stream is None else stream.first, code)

        return guarded

    def wrap_streaming(self, behavior: StreamingBehavior, method: MethodName) -> StreamingBehavior:
        full = method.full
        rule = rule_for(full)

        def guarded(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            caller = self._admit(full, rule, context)
            if caller is None:
                yield from behavior(request, context)
                return
            with acting_as(caller):
                yield from behavior(request, context)

        return guarded
