"""Settings of a whole system on one machine: where each service listens and what it reads.

Each service gets its settings from the environment (docs/architecture.md), as in a pod. Unless
``insecure``, every service gets its certificate and the token file of ``<state>/security``
(made by :class:`LocalSecurity`), and services reach each other on their mutual-TLS ports.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from services.common.catalog import (
    HEALTH_PORT_OFFSET,
    INTERNAL_PORT_OFFSET,
    SERVICES,
    WEB_METRICS_PORT,
    WEB_PORT,
)
from services.common.settings import (
    ADDRESSES,
    ARCHIVE,
    EMBEDDING_DIM,
    EMBEDDINGS_DIR,
    FEATURE_CACHE,
    HOST,
    LABEL_DB,
    LOG_LEVEL,
    METRICS_PORT,
    MILVUS_URI,
    PORT,
    RAY_ADDRESS,
    STATE_DIR,
    embeddings_folder,
)
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.settings import (
    HEALTH_PORT,
    INSECURE,
    INTERNAL_PORT,
    TLS_CA,
    TLS_CERT,
    TLS_KEY,
    TOKENS_FILE,
)
from services.web.settings import IMAGE_LINK_KEY_FILE

ORDER = ("search", "labels", "embedding", "selection", "retrieval", "coordinator")
"""Start order: the services others call come first."""


@dataclass(frozen=True)
class SystemConfig:
    """One system: archive, state folder, Milvus URI, Ray address, ports and model settings."""

    archive: Path
    state_dir: Path
    milvus_uri: str = ""
    ray_address: str = ""
    host: str = "127.0.0.1"
    grpc_port_base: int = SERVICES["retrieval"].grpc_port
    metrics_port_base: int = SERVICES["retrieval"].metrics_port
    feature_cache: str = ".cache/features"
    dim: int = 128
    log_level: str = "INFO"
    insecure: bool = False

    def port(self, name: str) -> int:
        return self.grpc_port_base + SERVICES[name].grpc_port - SERVICES["retrieval"].grpc_port

    def metrics_port(self, name: str) -> int:
        offset = SERVICES[name].metrics_port - SERVICES["retrieval"].metrics_port
        return self.metrics_port_base + offset

    def address(self, name: str) -> str:
        """Where clients call ``name`` (its public port)."""
        return f"{self.host}:{self.port(name)}"

    @property
    def web_port(self) -> int:
        """The web app's HTTP port: the catalog's with the default port base, shifted with it."""
        return self.grpc_port_base - SERVICES["retrieval"].grpc_port + WEB_PORT

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}/"

    def web_environment(self) -> dict[str, str]:
        """The ``ANNEAL_*`` variables the web app is started with: the services' public ports."""
        web_metrics = WEB_METRICS_PORT - SERVICES["retrieval"].metrics_port
        env = {
            HOST.env: self.host,
            PORT.env: str(self.web_port),
            METRICS_PORT.env: str(self.metrics_port_base + web_metrics),
            LOG_LEVEL.env: self.log_level,
            ARCHIVE.env: str(self.archive),
            IMAGE_LINK_KEY_FILE.env: str(self.security.image_link_key),
            **{ADDRESSES[name].env: self.address(name) for name in SERVICES},
        }
        if self.insecure:
            return {**env, INSECURE.env: "true"}
        return {
            **env,
            TLS_CA.env: str(self.security.ca),
            TOKENS_FILE.env: str(self.security.tokens_file),
        }

    def internal_address(self, name: str) -> str:
        """Where services call ``name``: its mutual-TLS port (its public one when insecure)."""
        if self.insecure:
            return self.address(name)
        return f"{self.host}:{self.port(name) + INTERNAL_PORT_OFFSET}"

    @property
    def security(self) -> LocalSecurity:
        return LocalSecurity.of(self.state_dir)

    def client(self, role: Role) -> ChannelSecurity:
        """Credentials of a local client acting with ``role`` (the demo, the benchmarks)."""
        return ChannelSecurity() if self.insecure else self.security.client(role)

    def _security_environment(self, name: str) -> dict[str, str]:
        if self.insecure:
            return {INSECURE.env: "true"}
        certificate, key = self.security.certificate(name)
        return {
            INTERNAL_PORT.env: str(self.port(name) + INTERNAL_PORT_OFFSET),
            HEALTH_PORT.env: str(self.port(name) + HEALTH_PORT_OFFSET),
            TLS_CERT.env: str(certificate),
            TLS_KEY.env: str(key),
            TLS_CA.env: str(self.security.ca),
            TOKENS_FILE.env: str(self.security.tokens_file),
        }

    def environment(self, name: str) -> dict[str, str]:
        """The ``ANNEAL_*`` variables service ``name`` is started with."""
        milvus = self.milvus_uri or str(self.state_dir / "milvus.db")
        return {
            HOST.env: self.host,
            PORT.env: str(self.port(name)),
            METRICS_PORT.env: str(self.metrics_port(name)),
            LOG_LEVEL.env: self.log_level,
            ARCHIVE.env: str(self.archive),
            STATE_DIR.env: str(self.state_dir),
            EMBEDDINGS_DIR.env: str(embeddings_folder("", str(self.state_dir))),
            LABEL_DB.env: str(self.state_dir / "labels.db"),
            MILVUS_URI.env: milvus,
            RAY_ADDRESS.env: self.ray_address,
            FEATURE_CACHE.env: self.feature_cache,
            EMBEDDING_DIM.env: str(self.dim),
            **{
                ADDRESSES[peer].env: self.internal_address(peer)
                for peer in ("embedding", "search", "selection", "labels")
            },
            **self._security_environment(name),
        }


def free_port_base(
    start: int,
    offsets: tuple[int, ...] = (0, INTERNAL_PORT_OFFSET, HEALTH_PORT_OFFSET),
    count: int = len(SERVICES),
) -> int:
    """The first port >= ``start`` such that ``count`` consecutive loopback ports are free, and
    so are those ports shifted by each of ``offsets`` (a system's public, internal and health
    ports), for benchmarks and tests that start a whole system beside another."""
    for base in range(start, 65535 - count - max(offsets)):
        try:
            for port in (p + o for p in range(base, base + count) for o in offsets):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports from {start}")
