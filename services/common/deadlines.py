"""Passing the deadline of an incoming call on to the calls it makes.

A service that calls another one gives the outgoing call what is left of its own caller's
deadline (minus a small margin for the reply to travel back), never more, so an abandoned request
does not keep downstream services busy.
"""

from __future__ import annotations

import grpc

REPLY_MARGIN_SECONDS = 0.005
#: grpc reports "no deadline" as a time centuries away; anything beyond this counts as none.
NO_DEADLINE_SECONDS = 10 * 365 * 24 * 3600.0


def time_left(context: grpc.ServicerContext) -> float | None:
    """Seconds until the incoming call's deadline; None when the caller set none."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > NO_DEADLINE_SECONDS else remaining


def outgoing_timeout(context: grpc.ServicerContext, default: float | None = None) -> float | None:
    """Timeout for an outgoing call made while serving ``context``.

    The incoming call's remaining time less :data:`REPLY_MARGIN_SECONDS`, capped by ``default``
    when both are set; ``default`` when the caller set no deadline. Raises TimeoutError (mapped
    to DEADLINE_EXCEEDED) when the deadline has already passed.
    """
    remaining = time_left(context)
    if remaining is None:
        return default
    left = remaining - REPLY_MARGIN_SECONDS
    if left <= 0:
        raise TimeoutError("the caller's deadline expired before the downstream call could be made")
    return left if default is None else min(left, default)
