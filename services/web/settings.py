"""The web app's settings: where it listens, the archive, the services and its credentials.

The same declarations as the services' (services/common/settings.py), with the web app's ports
from the catalog; it has no gRPC server, so none of the services' internal or health ports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.catalog import WEB_METRICS_PORT, WEB_PORT
from services.common.setting import Setting, read_settings, text
from services.common.settings import (
    ADDRESSES,
    ARCHIVE,
    HOST,
    LOG_LEVEL,
    METRICS_PORT,
    PORT,
    STATE_DIR,
)
from services.security.local_setup import LocalSecurity
from services.security.settings import (
    INSECURE,
    TLS_CA,
    TLS_CERT,
    TLS_KEY,
    TOKEN_RELOAD_S,
    TOKENS_FILE,
)

IMAGE_LINK_KEY_FILE = Setting(
    "--image-link-key-file",
    "ANNEAL_IMAGE_LINK_KEY_FILE",
    str(LocalSecurity.of(Path(STATE_DIR.default)).image_link_key),
    "key of signed image links (/links/v1/images; missing file or empty: links off)",
    text,
)


@dataclass(frozen=True)
class ServiceAddresses:
    """The six services' public ``host:port``: the web app calls them with each person's token."""

    retrieval: str = ADDRESSES["retrieval"].but("retrieval service's public host:port").field()
    embedding: str = ADDRESSES["embedding"].but("embedding service's public host:port").field()
    search: str = ADDRESSES["search"].but("search service's public host:port").field()
    selection: str = ADDRESSES["selection"].but("selection service's public host:port").field()
    labels: str = ADDRESSES["labels"].but("labels service's public host:port").field()
    coordinator: str = (
        ADDRESSES["coordinator"].but("coordinator service's public host:port").field()
    )

    def by_name(self) -> dict[str, str]:
        return {
            "retrieval": self.retrieval,
            "embedding": self.embedding,
            "search": self.search,
            "selection": self.selection,
            "labels": self.labels,
            "coordinator": self.coordinator,
        }


@dataclass(frozen=True)
class WebSettings:
    host: str = HOST.field()
    port: int = PORT.but("HTTP port").field()
    metrics_port: int = METRICS_PORT.but("Prometheus port").field()
    log_level: str = LOG_LEVEL.field()
    archive: str = ARCHIVE.but("archive folder (browsing and previews)").field()
    services: ServiceAddresses = ServiceAddresses()
    tls_ca: str = TLS_CA.but("PEM CA bundle that verifies the services").field()
    tls_cert: str = TLS_CERT.but("PEM certificate to serve HTTPS with (empty: HTTP)").field()
    tls_key: str = TLS_KEY.but("PEM key of --tls-cert").field()
    tokens_file: str = TOKENS_FILE.but("hashed tokens, to check sign-ins").field()
    token_reload_s: float = TOKEN_RELOAD_S.but("token file check interval").field()
    insecure: bool = INSECURE.but("true: no TLS, no sign-in (debugging)").field()
    image_link_key_file: str = IMAGE_LINK_KEY_FILE.field()

    @classmethod
    def read(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> WebSettings:
        """Flags win over ``ANNEAL_*`` variables, which win over the defaults."""
        return read_settings(
            cls,
            argv,
            environ,
            prog="python -m services.web",
            description="ANNEAL web app",
            defaults={PORT.env: WEB_PORT, METRICS_PORT.env: WEB_METRICS_PORT},
        )
