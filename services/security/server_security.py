"""How one server guards its ports, decided once at start-up from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.security.authenticator import Authenticator
from services.security.tls import TlsMaterial
from services.security.token_verifier import TokenVerifier


@dataclass(frozen=True)
class ServerSecurity:
    """TLS material (None: plaintext), the token verifier (None: no tokens) and reflection.

    With TLS the server listens twice: on its public port (server TLS, bearer tokens) and on
    ``internal_port`` (mutual TLS; a service's certificate is its identity). Python's gRPC
    cannot ask for a client certificate without requiring one, hence two ports. Without TLS,
    one plaintext port takes tokens (services send service tokens). :meth:`insecure` checks
    nothing at all and exists for debugging only.
    """

    tls: TlsMaterial | None
    tokens: TokenVerifier | None
    internal_port: int = 0
    reflection: bool = True
    health_port: int | None = None
    """With TLS: also serve health alone in plaintext here, for probes (None: do not)."""

    def __post_init__(self) -> None:
        if self.tls is None and (self.internal_port or self.health_port is not None):
            raise ValueError("the internal and plaintext health ports exist only with TLS")

    @classmethod
    def insecure(cls, reflection: bool = True) -> ServerSecurity:
        """No TLS, no credentials: anyone who reaches the port may call anything."""
        return cls(tls=None, tokens=None, reflection=reflection)

    @property
    def checks_callers(self) -> bool:
        """Whether calls are authenticated and authorised (False only for :meth:`insecure`)."""
        return self.tls is not None or self.tokens is not None

    def authenticator(self) -> Authenticator:
        return Authenticator(self.tokens)
