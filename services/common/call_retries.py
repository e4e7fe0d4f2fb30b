"""gRPC's own retry policy for the calls between ANNEAL's processes: one service config for all.

A service that is restarted (``anneal serve`` restarts one that died, Kubernetes restarts a pod)
is away for a few seconds. Every channel opened by :class:`~services.security.channels.
ChannelSecurity` carries this ``grpc.service_config``, so a call that is safe to repeat is
repeated by gRPC itself (up to :data:`MAX_ATTEMPTS` tries with exponential back-off) when it
fails with UNAVAILABLE, and, on a *patient* channel, waits for the restarted service
(``waitForReady``) instead of failing at once. The caller's deadline bounds all of it.

Retried: reads, and writes that are idempotent by contract (docs/architecture.md, "Retry
policy"). Not retried: ``BuildIndex`` (its request stream outgrows gRPC's retry buffer; the
coordinator repeats it, ALREADY_EXISTS making a repeat safe), the coordinator's ``StartRound``
(each call opens a new round) and ``CloseRound`` (a repeat after success is FAILED_PRECONDITION).
This is about calls between processes; ``services/search/retry.py`` retries Milvus steps inside
the search service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

MAX_ATTEMPTS = 5
"""gRPC caps attempts at 5 whatever is configured."""
INITIAL_BACKOFF_S = 0.2
MAX_BACKOFF_S = 2.0
BACKOFF_MULTIPLIER = 2.0
RECONNECT_BACKOFF_MS = (100, 1000)
"""(initial, max) delay between reconnection attempts to a service that went away: gRPC's
defaults (1 s growing to 120 s) would leave a channel disconnected long after a restart."""

IDEMPOTENT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "anneal.retrieval.v1.RetrievalService": ("Retrieve", "RetrieveBatch"),
        "anneal.search.v1.SearchService": (
            "Search",
            "GetVector",
            "GetIndexInfo",
            "ExportVectors",
            "SwapIndex",  # idempotent for the serving version
        ),
        "anneal.embedding.v1.EmbeddingService": (
            "EmbedImages",  # a pure function; retried while its request stream fits the buffer
            "GetModelInfo",
            "LoadModel",  # the same version and checkpoint again: loaded = false
            "UnloadModel",  # unloading twice: unloaded = false
        ),
        "anneal.selection.v1.SelectionService": ("StartRound", "ListPendingPairs", "GetRound"),
        "anneal.labels.v1.LabelService": (
            "OpenRound",  # the same round and pairs again: created = false
            "CloseRound",
            "SubmitLabels",  # the same idempotency keys again: DUPLICATE, nothing changes
            "WithdrawLabel",
            "ListLabels",
            "ListPairs",
            "GetRoundProgress",
            "GetResolvedLabels",
            "ListRounds",
            "ImportLabels",  # by idempotency key: a repeat changes nothing
        ),
        "anneal.coordinator.v1.CoordinatorService": ("GetStatus", "ListRounds", "WatchStatus"),
    }
)
"""Methods that are safe to repeat, by full service name."""

NOT_RETRIED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "anneal.search.v1.SearchService": (
            "BuildIndex",  # the coordinator repeats it itself
            "AddToIndex",  # so it does this one (ids already held are skipped: safe to repeat)
        ),
        "anneal.labels.v1.LabelService": ("BackupLabels",),  # a repeat is one more backup
        "anneal.coordinator.v1.CoordinatorService": (
            "StartRound",
            "CloseRound",
            "IngestArchive",  # long; an operator repeats it (a repeat adds nothing twice)
        ),
    }
)
"""Methods deliberately left to their callers (a test checks every RPC is in one of the two)."""


def service_config(wait_for_ready: bool) -> dict[str, Any]:
    """The ``grpc.service_config`` of every channel; ``wait_for_ready``: calls to a service that
    is away wait for it (within their deadline) instead of failing at once with UNAVAILABLE."""
    retry = {
        "maxAttempts": MAX_ATTEMPTS,
        "initialBackoff": f"{INITIAL_BACKOFF_S}s",
        "maxBackoff": f"{MAX_BACKOFF_S}s",
        "backoffMultiplier": BACKOFF_MULTIPLIER,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    idempotent = [
        {"service": service, "method": method}
        for service, methods in IDEMPOTENT.items()
        for method in methods
    ]
    others = [{"service": service} for service in IDEMPOTENT]
    return {
        "methodConfig": [
            {"name": idempotent, "retryPolicy": retry, "waitForReady": wait_for_ready},
            {"name": others, "waitForReady": wait_for_ready},
        ]
    }


KEEPALIVE_TIME_MS = 30_000
"""An idle channel pings its server this often, so a long-lived channel between services finds
a dead peer or a dropped connection (a NAT, a restarted pod) before the next query does."""
KEEPALIVE_TIMEOUT_MS = 10_000
MIN_PING_INTERVAL_MS = KEEPALIVE_TIME_MS // 2
"""Servers accept pings this far apart (half the clients' interval, so a server never answers
a well-behaved client with GOAWAY too_many_pings)."""

SERVER_KEEPALIVE_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
    ("grpc.http2.max_ping_strikes", 0),
)


def channel_options(wait_for_ready: bool) -> tuple[tuple[str, Any], ...]:
    """Channel arguments carrying :func:`service_config`, quick reconnection and keep-alive."""
    initial_ms, max_ms = RECONNECT_BACKOFF_MS
    return (
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config(wait_for_ready))),
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.initial_reconnect_backoff_ms", initial_ms),
        ("grpc.min_reconnect_backoff_ms", initial_ms),
        ("grpc.max_reconnect_backoff_ms", max_ms),
    )
