"""Settings of a whole system on one machine: where each service listens and what it reads.

Each service gets its settings from the environment (docs/architecture.md), as in a pod. Unless
``insecure``, every service gets its certificate and the token file of ``<state>/security``
(made by :class:`LocalSecurity`), and services reach each other on their mutual-TLS ports.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from services.common.catalog import HEALTH_PORT_OFFSET, INTERNAL_PORT_OFFSET, SERVICES
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role

WEB_PORT = 8080
WEB_METRICS_OFFSET = 6

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
    grpc_port_base: int = 50051
    metrics_port_base: int = 9101
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
        """The web app's HTTP port: 8080 with the default port base, shifted with it."""
        return self.grpc_port_base - SERVICES["retrieval"].grpc_port + WEB_PORT

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}/"

    def web_environment(self) -> dict[str, str]:
        """The ``ANNEAL_*`` variables the web app is started with: the services' public ports."""
        env = {
            "ANNEAL_HOST": self.host,
            "ANNEAL_PORT": str(self.web_port),
            "ANNEAL_METRICS_PORT": str(self.metrics_port_base + WEB_METRICS_OFFSET),
            "ANNEAL_LOG_LEVEL": self.log_level,
            "ANNEAL_ARCHIVE": str(self.archive),
            **{f"ANNEAL_{name.upper()}_ADDR": self.address(name) for name in SERVICES},
        }
        if self.insecure:
            return {**env, "ANNEAL_INSECURE": "true"}
        return {
            **env,
            "ANNEAL_TLS_CA": str(self.security.ca),
            "ANNEAL_TOKENS_FILE": str(self.security.tokens_file),
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
            return {"ANNEAL_INSECURE": "true"}
        certificate, key = self.security.certificate(name)
        return {
            "ANNEAL_INTERNAL_PORT": str(self.port(name) + INTERNAL_PORT_OFFSET),
            "ANNEAL_HEALTH_PORT": str(self.port(name) + HEALTH_PORT_OFFSET),
            "ANNEAL_TLS_CERT": str(certificate),
            "ANNEAL_TLS_KEY": str(key),
            "ANNEAL_TLS_CA": str(self.security.ca),
            "ANNEAL_TOKENS_FILE": str(self.security.tokens_file),
        }

    def environment(self, name: str) -> dict[str, str]:
        """The ``ANNEAL_*`` variables service ``name`` is started with."""
        milvus = self.milvus_uri or str(self.state_dir / "milvus.db")
        return {
            "ANNEAL_HOST": self.host,
            "ANNEAL_PORT": str(self.port(name)),
            "ANNEAL_METRICS_PORT": str(self.metrics_port(name)),
            "ANNEAL_LOG_LEVEL": self.log_level,
            "ANNEAL_ARCHIVE": str(self.archive),
            "ANNEAL_STATE_DIR": str(self.state_dir),
            "ANNEAL_LABEL_DB": str(self.state_dir / "labels.db"),
            "ANNEAL_MILVUS_URI": milvus,
            "ANNEAL_RAY_ADDRESS": self.ray_address,
            "ANNEAL_FEATURE_CACHE": self.feature_cache,
            "ANNEAL_EMBEDDING_DIM": str(self.dim),
            "ANNEAL_EMBEDDING_ADDR": self.internal_address("embedding"),
            "ANNEAL_SEARCH_ADDR": self.internal_address("search"),
            "ANNEAL_SELECTION_ADDR": self.internal_address("selection"),
            "ANNEAL_LABELS_ADDR": self.internal_address("labels"),
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
