"""The bridge's settings: Label Studio, the services it calls, images, its state and ports.

Declared like every service's (services/common/setting.py): a flag wins over its ``ANNEAL_*``
variable, which wins over the default; read once at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.common.catalog import LABELSTUDIO_METRICS_PORT, LABELSTUDIO_PORT
from services.common.setting import Setting, number, positive, read_settings, text
from services.common.settings import ADDRESSES, HOST, LOG_LEVEL, METRICS_PORT, PORT
from services.security.settings import INSECURE, TLS_CA

IMAGE_SOURCES = ("signed", "local-files")


def image_source(value: str) -> str:
    if value not in IMAGE_SOURCES:
        raise ValueError(f"expected one of {', '.join(IMAGE_SOURCES)}")
    return value


LABEL_STUDIO_URL = Setting(
    "--label-studio-url", "ANNEAL_LABEL_STUDIO_URL", "", "Label Studio's base URL", text
)
LABEL_STUDIO_TOKEN_FILE = Setting(
    "--label-studio-token-file",
    "ANNEAL_LABEL_STUDIO_TOKEN_FILE",
    "",
    "file holding a Label Studio API token (personal access token) of a project manager",
    text,
)
TOKEN_FILE = Setting(
    "--token-file",
    "ANNEAL_TOKEN_FILE",
    "",
    "file holding this bridge's ANNEAL token (role labelling-service)",
    text,
)
WEBHOOK_URL = Setting(
    "--webhook-url",
    "ANNEAL_LABELSTUDIO_WEBHOOK_URL",
    "",
    "URL at which Label Studio reaches this bridge's /webhook (empty: no webhook, pulls only)",
    text,
)
WEBHOOK_SECRET_FILE = Setting(
    "--webhook-secret-file",
    "ANNEAL_LABELSTUDIO_WEBHOOK_SECRET_FILE",
    "",
    "file holding the secret Label Studio sends with each webhook",
    text,
)
IMAGES = Setting(
    "--images",
    "ANNEAL_LABELSTUDIO_IMAGES",
    "signed",
    "how Label Studio loads scenes: signed (links to the web app) or local-files",
    image_source,
)
IMAGE_BASE_URL = Setting(
    "--image-base-url",
    "ANNEAL_LABELSTUDIO_IMAGE_BASE_URL",
    "",
    "the web app's URL as annotators' browsers reach it (signed links)",
    text,
)
IMAGE_LINK_KEY_FILE = Setting(
    "--image-link-key-file",
    "ANNEAL_IMAGE_LINK_KEY_FILE",
    "state/security/image-links.key",
    "key the web app checks signed image links with (signed links)",
    text,
)
IMAGE_LINK_TTL_S = Setting(
    "--image-link-ttl-s",
    "ANNEAL_LABELSTUDIO_IMAGE_LINK_TTL_S",
    6 * 3600,
    "seconds a signed image link works; renewed in Label Studio at half of it",
    positive,
)
LOCAL_FILES_ROOT = Setting(
    "--local-files-root",
    "ANNEAL_LABELSTUDIO_LOCAL_FILES_ROOT",
    "",
    "the archive's folder relative to Label Studio's LOCAL_FILES_DOCUMENT_ROOT (local-files)",
    text,
)
STATE_DB = Setting(
    "--state-db",
    "ANNEAL_LABELSTUDIO_DB",
    "state/labelstudio.db",
    "SQLite file of the bridge's projects, tasks and pushed answers",
    text,
)
POLL_S = Setting(
    "--poll-s",
    "ANNEAL_LABELSTUDIO_POLL_S",
    30.0,
    "seconds between sync passes (rounds, pull, links)",
    number,
)
FULL_PULL_S = Setting(
    "--full-pull-s",
    "ANNEAL_LABELSTUDIO_FULL_PULL_S",
    600.0,
    "seconds between pulls that list every task; the passes between list only the tasks "
    "changed since the last pull",
    number,
)
BATCH = Setting(
    "--batch",
    "ANNEAL_LABELSTUDIO_BATCH",
    500,
    "answers sent to the label service in one SubmitLabels call (1 to 500)",
    positive,
)
TITLE_PREFIX = Setting(
    "--title-prefix",
    "ANNEAL_LABELSTUDIO_TITLE_PREFIX",
    "ANNEAL",
    "Label Studio project titles: '<prefix> round <n>'",
    text,
)


@dataclass(frozen=True)
class BridgeSettings:
    host: str = HOST.field()
    port: int = PORT.but("HTTP port of the webhook receiver").field()
    metrics_port: int = METRICS_PORT.but("Prometheus port").field()
    log_level: str = LOG_LEVEL.field()
    labels: str = ADDRESSES["labels"].but("labels service's public host:port").field()
    coordinator: str = (
        ADDRESSES["coordinator"].but("coordinator service's public host:port").field()
    )
    tls_ca: str = TLS_CA.but("PEM CA bundle that verifies the services").field()
    token_file: str = TOKEN_FILE.field()
    insecure: bool = INSECURE.but("true: no TLS to the services (debugging)").field()
    label_studio_url: str = LABEL_STUDIO_URL.field()
    label_studio_token_file: str = LABEL_STUDIO_TOKEN_FILE.field()
    webhook_url: str = WEBHOOK_URL.field()
    webhook_secret_file: str = WEBHOOK_SECRET_FILE.field()
    images: str = IMAGES.field()
    image_base_url: str = IMAGE_BASE_URL.field()
    image_link_key_file: str = IMAGE_LINK_KEY_FILE.field()
    image_link_ttl_s: int = IMAGE_LINK_TTL_S.field()
    local_files_root: str = LOCAL_FILES_ROOT.field()
    state_db: str = STATE_DB.field()
    poll_s: float = POLL_S.field()
    full_pull_s: float = FULL_PULL_S.field()
    batch: int = BATCH.field()
    title_prefix: str = TITLE_PREFIX.field()

    @classmethod
    def read(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> BridgeSettings:
        """Flags win over ``ANNEAL_*`` variables, which win over the defaults."""
        return read_settings(
            cls,
            argv,
            environ,
            prog="python -m services.labelstudio",
            description="ANNEAL's Label Studio bridge",
            defaults={PORT.env: LABELSTUDIO_PORT, METRICS_PORT.env: LABELSTUDIO_METRICS_PORT},
        )

    def __post_init__(self) -> None:
        if not self.label_studio_url or not self.label_studio_token_file:
            raise ValueError(
                "set ANNEAL_LABEL_STUDIO_URL and ANNEAL_LABEL_STUDIO_TOKEN_FILE (Label Studio's "
                "address and a file with its API token)"
            )
        if self.webhook_url and not self.webhook_secret_file:
            raise ValueError(
                "a webhook needs its secret: set ANNEAL_LABELSTUDIO_WEBHOOK_SECRET_FILE"
            )
        if self.images == "signed" and not self.image_base_url:
            raise ValueError(
                "signed image links need the web app's URL: set "
                "ANNEAL_LABELSTUDIO_IMAGE_BASE_URL (or ANNEAL_LABELSTUDIO_IMAGES=local-files)"
            )
        if not self.insecure and not self.token_file:
            raise ValueError(
                "set ANNEAL_TOKEN_FILE (a token of role labelling-service), or "
                "ANNEAL_INSECURE=true to call the services without one (debugging only)"
            )
