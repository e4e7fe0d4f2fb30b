"""``python -m services.labelstudio``: the Label Studio bridge (docs/labelstudio.md).

Serves Label Studio's webhooks on ``ANNEAL_HOST:ANNEAL_PORT`` (8090) and Prometheus metrics on
``ANNEAL_METRICS_PORT`` (9108), and every ``ANNEAL_LABELSTUDIO_POLL_S`` seconds opens projects
for new rounds, pulls annotations, renews image links and finishes closed rounds' projects.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from services.common.image_links import ImageLinks, load_key
from services.common.logs import configure_logging
from services.common.metrics import metrics_registry, start_metrics_server
from services.labelstudio import metrics
from services.labelstudio.bridge import Bridge, WebhookTarget
from services.labelstudio.bridge_store import BridgeStore
from services.labelstudio.image_urls import ImageUrls, LocalFilesUrls, SignedImageUrls
from services.labelstudio.label_sink import LabelSink
from services.labelstudio.settings import BridgeSettings
from services.labelstudio.studio import Studio
from services.labelstudio.sync_loop import SyncLoop
from services.labelstudio.webhook_app import create_app
from services.security.channels import ChannelSecurity


def _secret(path: str, what: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as error:
        raise SystemExit(f"error: cannot read {what} {path}: {error.strerror}") from None
    if not value:
        raise SystemExit(f"error: {what} {path} is empty")
    return value


def _images(values: BridgeSettings) -> ImageUrls:
    if values.images == "local-files":
        return LocalFilesUrls(values.local_files_root)
    try:
        key = load_key(Path(values.image_link_key_file))
    except (OSError, ValueError) as error:
        raise SystemExit(
            f"error: signed image links need the web app's key {values.image_link_key_file}: "
            f"{error}"
        ) from None
    return SignedImageUrls(ImageLinks(key), values.image_base_url, values.image_link_ttl_s)


def build(values: BridgeSettings) -> tuple[Bridge, str]:
    """The bridge these settings describe, and its webhook secret ('' without a webhook)."""
    token = None if values.insecure else _secret(values.token_file, "ANNEAL token file")
    ca = Path(values.tls_ca).read_bytes() if values.tls_ca and not values.insecure else None
    security = ChannelSecurity(ca=ca, token=token)
    sink = LabelSink(
        security.channel(values.labels), security.channel(values.coordinator), values.batch
    )
    studio = Studio(
        values.label_studio_url, _secret(values.label_studio_token_file, "Label Studio token")
    )
    secret = _secret(values.webhook_secret_file, "webhook secret") if values.webhook_url else ""
    webhook = WebhookTarget(values.webhook_url, secret) if values.webhook_url else None
    store = BridgeStore(Path(values.state_db))
    bridge = Bridge(
        studio,
        sink,
        store,
        _images(values),
        webhook,
        values.title_prefix,
        full_pull_s=values.full_pull_s,
    )
    return bridge, secret


def main(argv: Sequence[str] | None = None) -> None:
    values = BridgeSettings.read(argv)
    configure_logging("labelstudio", values.log_level)
    bridge, secret = build(values)
    loop = SyncLoop(bridge, values.poll_s)
    start_metrics_server(metrics_registry(metrics.COLLECTORS), values.metrics_port, values.host)
    loop.start()
    try:
        uvicorn.run(  # SIGTERM / SIGINT: stops taking webhooks, finishes open ones
            create_app(bridge, secret),
            host=values.host,
            port=values.port,
            log_level=values.log_level.lower(),
            timeout_graceful_shutdown=5,
            access_log=False,
        )
    finally:
        loop.stop()
        bridge.store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
