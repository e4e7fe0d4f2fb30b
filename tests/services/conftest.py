"""Shared fixtures for service tests: start a built server on loopback and get a channel to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from milvus_server import milvus_server_uri  # noqa: F401  (one session server for all modules)

from services.common.server import AnnealServer
from services.security.channels import ChannelSecurity

Serve = Callable[..., grpc.Channel]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(create_server("127.0.0.1:0", ...))`` starts the server and returns a channel.

    The channel carries ``security`` (default: none, for servers built insecure) to the public
    port, or to the mutual-TLS port with ``internal=True``. Every server started this way is
    stopped, and its channel closed, after the test.
    """
    started: list[tuple[AnnealServer, grpc.Channel]] = []

    def start(
        built: tuple[AnnealServer, int],
        security: ChannelSecurity | None = None,
        internal: bool = False,
    ) -> grpc.Channel:
        server, port = built
        server.start()
        target = server.internal_port if internal else port
        channel = (security or ChannelSecurity()).channel(f"127.0.0.1:{target}")
        started.append((server, channel))
        return channel

    yield start
    for server, channel in started:
        channel.close()
        server.stop(None).wait()
