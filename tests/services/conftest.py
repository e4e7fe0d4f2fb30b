"""Shared fixtures for service tests: start a built server on loopback and get a channel to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from services.common.server import AnnealServer

Serve = Callable[[tuple[AnnealServer, int]], grpc.Channel]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(create_server("127.0.0.1:0", ...))`` starts the server and returns a channel.

    Every server started this way is stopped, and its channel closed, after the test.
    """
    started: list[tuple[AnnealServer, grpc.Channel]] = []

    def start(built: tuple[AnnealServer, int]) -> grpc.Channel:
        server, port = built
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        return channel

    yield start
    for server, channel in started:
        channel.close()
        server.stop(None).wait()
