"""A service's security settings (flags / ``ANNEAL_*`` variables), checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting import Setting, boolean, number, port_number, text
from services.security.channels import ChannelSecurity
from services.security.server_security import ServerSecurity
from services.security.tls import TlsMaterial
from services.security.token_verifier import TokenVerifier

TLS_CERT = Setting("--tls-cert", "ANNEAL_TLS_CERT", "", "PEM certificate of this service", text)
TLS_KEY = Setting("--tls-key", "ANNEAL_TLS_KEY", "", "PEM private key of this service", text)
TLS_CA = Setting("--tls-ca", "ANNEAL_TLS_CA", "", "PEM CA bundle that verifies peers", text)
TOKENS_FILE = Setting(
    "--tokens-file", "ANNEAL_TOKENS_FILE", "", "JSON file of hashed bearer tokens", text
)
TOKEN_RELOAD_S = Setting(
    "--token-reload-s",
    "ANNEAL_TOKEN_RELOAD_S",
    5.0,
    "how often the tokens file is checked for changes, in seconds",
    number,
)
SERVICE_TOKEN_FILE = Setting(
    "--service-token-file",
    "ANNEAL_SERVICE_TOKEN_FILE",
    "",
    "this service's own token, for calls to others when TLS is off",
    text,
)
INTERNAL_PORT = Setting(
    "--internal-port",
    "ANNEAL_INTERNAL_PORT",
    0,
    "mutual-TLS port for calls from other services (0: a free one)",
    port_number,
)
HEALTH_PORT = Setting(
    "--health-port",
    "ANNEAL_HEALTH_PORT",
    0,
    "with TLS: plaintext port serving health only, for probes (0: a free one)",
    port_number,
)
INSECURE = Setting(
    "--insecure",
    "ANNEAL_INSECURE",
    False,
    "true: no TLS and no access control at all (debugging only)",
    boolean,
)
REFLECTION = Setting("--reflection", "ANNEAL_REFLECTION", True, "serve gRPC reflection", boolean)


@dataclass(frozen=True)
class SecuritySettings:
    """How the service proves itself and checks its callers (docs/architecture.md)."""

    tls_cert: str = TLS_CERT.field()
    tls_key: str = TLS_KEY.field()
    tls_ca: str = TLS_CA.field()
    tokens_file: str = TOKENS_FILE.field()
    token_reload_s: float = TOKEN_RELOAD_S.field()
    service_token_file: str = SERVICE_TOKEN_FILE.field()
    internal_port: int = INTERNAL_PORT.field()
    health_port: int = HEALTH_PORT.field()
    insecure: bool = INSECURE.field()
    reflection: bool = REFLECTION.field()

    def __post_init__(self) -> None:
        tls = [self.tls_cert, self.tls_key, self.tls_ca]
        if any(tls) and not all(tls):
            raise ValueError(
                "TLS needs all of ANNEAL_TLS_CERT, ANNEAL_TLS_KEY and ANNEAL_TLS_CA "
                "(--tls-cert, --tls-key, --tls-ca)"
            )
        if self.insecure and (any(tls) or self.tokens_file):
            raise ValueError(
                "ANNEAL_INSECURE (--insecure) turns TLS and tokens off: unset it, or unset the "
                "TLS and token settings"
            )
        if not self.insecure and not any(tls) and not self.tokens_file:
            raise ValueError(
                "no credentials configured: set ANNEAL_TLS_CERT/KEY/CA and ANNEAL_TOKENS_FILE "
                "(--tls-cert, --tls-key, --tls-ca, --tokens-file), or ANNEAL_INSECURE=true "
                "to run without any access control (debugging only)"
            )
        if self.token_reload_s <= 0:
            raise ValueError(f"ANNEAL_TOKEN_RELOAD_S must be positive, got {self.token_reload_s}")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    def _material(self) -> TlsMaterial:
        return TlsMaterial.load(Path(self.tls_cert), Path(self.tls_key), Path(self.tls_ca))

    def server(self) -> ServerSecurity:
        """The server's TLS material and token verifier (files read now)."""
        if self.insecure:
            return ServerSecurity.insecure(self.reflection)
        tokens = (
            TokenVerifier(Path(self.tokens_file), self.token_reload_s) if self.tokens_file else None
        )
        tls = self._material() if self.tls else None
        return ServerSecurity(
            tls=tls,
            tokens=tokens,
            internal_port=self.internal_port if tls else 0,
            reflection=self.reflection,
            health_port=self.health_port if tls else None,
        )

    def client(self) -> ChannelSecurity:
        """Credentials for this service's calls to the others' internal ports."""
        if self.insecure:
            return ChannelSecurity()
        if self.tls:
            return ChannelSecurity.for_service(self._material())
        if not self.service_token_file:
            raise ValueError(
                "without TLS, calls to other services need this service's token: set "
                "ANNEAL_SERVICE_TOKEN_FILE (--service-token-file)"
            )
        path = Path(self.service_token_file)
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the service token file {path}: {exc.strerror}") from None
        return ChannelSecurity(token=token)
