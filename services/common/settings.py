"""The settings every service has, and those more than one process reads or sets.

A service's settings are a frozen dataclass extending :class:`CommonSettings` with its own
:meth:`Setting.field` s (``services/<name>/settings.py``), read once at start-up with
``read``: a flag wins over its ``ANNEAL_*`` variable, which wins over the default
(services/common/setting.py). The common settings are those of docs/architecture.md (host, port,
metrics port, log level, security); the ports default to the service's catalog entry. The
declarations below are also the ones the CLI sets or takes (services/cli/), so each variable is
named once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self

from services.common.catalog import SERVICES, ServiceSpec
from services.common.setting import (
    Setting,
    integer,
    log_level,
    port_number,
    read_settings,
    text,
)
from services.security.settings import HEALTH_PORT, INTERNAL_PORT, SecuritySettings

HOST = Setting("--host", "ANNEAL_HOST", "127.0.0.1", "address to listen on", text)
PORT = Setting("--port", "ANNEAL_PORT", 0, "gRPC port (0: a free one)", port_number)
METRICS_PORT = Setting(
    "--metrics-port",
    "ANNEAL_METRICS_PORT",
    0,
    "Prometheus /metrics port (0: a free one)",
    port_number,
)
LOG_LEVEL = Setting(
    "--log-level", "ANNEAL_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", log_level
)

ARCHIVE = Setting("--archive", "ANNEAL_ARCHIVE", "", "archive folder", text)
STATE_DIR = Setting("--state-dir", "ANNEAL_STATE_DIR", "state", "state folder", text)
EMBEDDINGS_DIR = Setting(
    "--embeddings-dir",
    "ANNEAL_EMBEDDINGS_DIR",
    "",
    "folder of each index version's embeddings, written by the coordinator and read by"
    " selection (empty: <state dir>/coordinator/embeddings)",
    text,
)
BACKBONE = Setting("--backbone", "ANNEAL_BACKBONE", "efficientnet-lite0", "backbone name", text)
LABEL_DB = Setting(
    "--label-db", "ANNEAL_LABEL_DB", "state/labels.db", "SQLite file of the label store", text
)
MILVUS_URI = Setting(
    "--milvus-uri",
    "ANNEAL_MILVUS_URI",
    "state/milvus.db",
    "Milvus Lite file (*.db) or server URI (http://host:19530)",
    text,
)
RAY_ADDRESS = Setting(
    "--ray-address",
    "ANNEAL_RAY_ADDRESS",
    "",
    "Ray cluster (ray://host:10001); empty = local Ray",
    text,
)
FEATURE_CACHE = Setting(
    "--feature-cache",
    "ANNEAL_FEATURE_CACHE",
    ".cache/features",
    "backbone feature store folder (.npy shards and a manifest per model)",
    text,
)
"""Named ``FEATURE_CACHE`` (and its flag and variable) from before the feature store, kept so
existing deployments and scripts keep working."""


def embeddings_folder(embeddings_dir: str, state_dir: str) -> Path:
    """The embeddings folder: ``ANNEAL_EMBEDDINGS_DIR``, else the coordinator's under the state
    folder (the same path for every service that shares the state folder on one machine)."""
    if embeddings_dir:
        return Path(embeddings_dir)
    return Path(state_dir) / "coordinator" / "embeddings"


def _dimension(value: str) -> int | None:
    dim = integer(value)
    return dim if dim > 0 else None


EMBEDDING_DIM: Setting[int | None] = Setting(
    "--dim", "ANNEAL_EMBEDDING_DIM", 128, "embedding dimension (0: the backbone's)", _dimension
)

ADDRESSES: Mapping[str, Setting[str]] = MappingProxyType(
    {
        name: Setting(
            f"--{name}-addr",
            f"ANNEAL_{name.upper()}_ADDR",
            f"127.0.0.1:{spec.grpc_port}",
            f"{name} service host:port",
            text,
        )
        for name, spec in SERVICES.items()
    }
)
"""``ANNEAL_<NAME>_ADDR``: where a service is called (default: its catalog port on loopback)."""


@dataclass(frozen=True, kw_only=True)
class CommonSettings:
    """Settings every service has; a subclass names its service (``service``) and adds its own."""

    service: ClassVar[str]
    own_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    """Defaults this service gives some shared settings, by variable (e.g. no Milvus URI)."""

    host: str = HOST.field()
    port: int = PORT.field()
    metrics_port: int = METRICS_PORT.field()
    log_level: str = LOG_LEVEL.field()
    security: SecuritySettings

    @property
    def address(self) -> str:
        """``host:port`` to bind the gRPC server to."""
        return f"{self.host}:{self.port}"

    @classmethod
    def spec(cls) -> ServiceSpec:
        return SERVICES[cls.service]

    @classmethod
    def read(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Self:
        """The settings from ``argv`` (default ``sys.argv[1:]``) and ``environ`` (default
        ``os.environ``); SystemExit with one line naming a bad value's flag and variable."""
        spec = cls.spec()
        return read_settings(
            cls,
            argv,
            environ,
            prog=" ".join(spec.command),
            description=f"ANNEAL {spec.name} service ({spec.full_service_name})",
            defaults={
                PORT.env: spec.grpc_port,
                METRICS_PORT.env: spec.metrics_port,
                INTERNAL_PORT.env: spec.internal_port,
                HEALTH_PORT.env: spec.health_port,
                **cls.own_defaults,
            },
        )
