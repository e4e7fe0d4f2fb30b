"""How a client reaches a service: the CA it trusts, its own certificate, a bearer token.

Client apps and the CLI hold a token (and the CA when TLS is on); services hold their
certificate and reach each other's internal (mutual TLS) port, or send a service token where
TLS is off. The same object opens every channel of a process, and every channel carries gRPC's
retry policy for calls that are safe to repeat (services/common/call_retries.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from services.common.call_retries import channel_options
from services.security.tls import TlsMaterial

ChannelOptions = Sequence[tuple[str, Any]]


class _ClientCallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    def __init__(self, base: grpc.ClientCallDetails, metadata: Sequence[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = base.wait_for_ready
        self.compression = base.compression


class _BearerMetadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer <token>`` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _ClientCallDetails(details, [*(details.metadata or ()), self._header])

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._details(details), requests)


@dataclass(frozen=True)
class ChannelSecurity:
    """``ca`` (trust; None: plaintext), ``identity`` (mutual TLS) and ``token`` (bearer)."""

    ca: bytes | None = None
    identity: TlsMaterial | None = None
    token: str | None = None

    @classmethod
    def for_service(cls, tls: TlsMaterial) -> ChannelSecurity:
        """A service calling another's internal port with its own certificate."""
        return cls(ca=tls.ca, identity=tls)

    @property
    def tls(self) -> bool:
        return self.ca is not None

    def channel(
        self, address: str, options: ChannelOptions = (), wait_for_ready: bool = True
    ) -> grpc.Channel:
        """A channel to ``address`` (``host:port``) carrying these credentials and the retry
        policy; ``wait_for_ready``: a call to a service that is away (restarting) waits for it
        within its deadline; False (a person at the CLI) fails at once with UNAVAILABLE."""
        options = tuple({**dict(channel_options(wait_for_ready)), **dict(options)}.items())
        if self.ca is None:
            channel = grpc.insecure_channel(address, options=options)
        else:
            if self.identity is not None:
                credentials = self.identity.client_credentials()
            else:
                credentials = grpc.ssl_channel_credentials(self.ca)
            channel = grpc.secure_channel(address, credentials, options=options)
        if self.token:
            # Metadata added in Python costs a few microseconds; gRPC call credentials (even
            # its native access_token_call_credentials) added ~0.2 ms to every loopback call.
            channel = grpc.intercept_channel(channel, _BearerMetadata(self.token))
        return channel
