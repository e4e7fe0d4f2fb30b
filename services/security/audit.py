"""The audit trail: one structured log line per refused call and per admin action.

Lines go to the ``anneal.audit`` logger (JSON on stderr like every service log, see
services/common/logs.py) with ``audit`` set to ``refused`` or ``action``, the method, the caller
and, for actions, the request's scalar fields (which round, which index version) and the outcome.
"""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.security.principal import Principal

_log = logging.getLogger("anneal.audit")
_MAX_TEXT = 200


def _who(caller: Principal | None) -> dict[str, str]:
    if caller is None:
        return {"caller": "", "role": "", "via": ""}
    return {"caller": caller.name, "role": caller.role.value, "via": caller.via}


def refused(method: str, caller: Principal | None, code: str, reason: str) -> None:
    """Logs a call the policy refused."""
    _log.warning(
        "refused %s",
        method,
        extra={
            "audit": "refused",
            "method": method,
            "code": code,
            "reason": reason,
            **_who(caller),
        },
    )


def action(method: str, caller: Principal, request: Message | None, code: str) -> None:
    """Logs an admin action (an audited method) with its arguments and outcome."""
    _log.info(
        "%s by %s: %s",
        method,
        caller.name,
        code,
        extra={
            "audit": "action",
            "method": method,
            "code": code,
            "request": request_fields(request),
            **_who(caller),
        },
    )


def request_fields(message: Message | None, prefix: str = "") -> dict[str, Any]:
    """The set scalar fields of ``message``, one level of nested messages flattened."""
    out: dict[str, Any] = {}
    if message is None:
        return out
    for field, value in message.ListFields():
        name = prefix + field.name
        if field.is_repeated:
            out[name + ".count"] = len(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if not prefix:
                out.update(request_fields(value, name + "."))
        elif isinstance(value, str | bytes):
            out[name] = value[:_MAX_TEXT] if isinstance(value, str) else f"<{len(value)} bytes>"
        else:
            out[name] = value
    return out
