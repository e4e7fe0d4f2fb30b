"""Settings of a whole system on one machine: where each service listens and what it reads.

Each service gets its settings from the environment (docs/architecture.md), as in a pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.catalog import SERVICES

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

    def port(self, name: str) -> int:
        return self.grpc_port_base + SERVICES[name].grpc_port - SERVICES["retrieval"].grpc_port

    def metrics_port(self, name: str) -> int:
        offset = SERVICES[name].metrics_port - SERVICES["retrieval"].metrics_port
        return self.metrics_port_base + offset

    def address(self, name: str) -> str:
        return f"{self.host}:{self.port(name)}"

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
            "ANNEAL_EMBEDDING_ADDR": self.address("embedding"),
            "ANNEAL_SEARCH_ADDR": self.address("search"),
            "ANNEAL_SELECTION_ADDR": self.address("selection"),
            "ANNEAL_LABELS_ADDR": self.address("labels"),
        }
