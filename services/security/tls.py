"""PEM files of one TLS identity (certificate, key, the CA that verifies peers) and the gRPC
credentials made from them: server-side TLS for the public port, mutual TLS for the internal
port, and client credentials for calls to other services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        raise ValueError(f"the {what} {path} is not a PEM file")
    return data


@dataclass(frozen=True)
class TlsMaterial:
    """A certificate chain, its private key and the CA bundle peers are checked against."""

    certificate: bytes
    key: bytes
    ca: bytes

    @classmethod
    def load(cls, certificate: Path, key: Path, ca: Path) -> TlsMaterial:
        """Reads the three PEM files; ValueError naming a missing or malformed one."""
        return cls(
            _read(Path(certificate), "TLS certificate"),
            _read(Path(key), "TLS key"),
            _read(Path(ca), "CA bundle"),
        )

    def public_server_credentials(self) -> grpc.ServerCredentials:
        """Server-side TLS: callers check us; they prove themselves with tokens."""
        return grpc.ssl_server_credentials([(self.key, self.certificate)])

    def internal_server_credentials(self) -> grpc.ServerCredentials:
        """Mutual TLS: only callers with a certificate from our CA get through."""
        return grpc.ssl_server_credentials(
            [(self.key, self.certificate)], root_certificates=self.ca, require_client_auth=True
        )

    def client_credentials(self) -> grpc.ChannelCredentials:
        """For calls to another service's internal port: our certificate is our identity."""
        return grpc.ssl_channel_credentials(self.ca, self.key, self.certificate)
