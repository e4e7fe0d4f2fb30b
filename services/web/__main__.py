"""``python -m services.web``: the web app for people (settings: docs/architecture.md).

Serves the pages and the JSON API on ``ANNEAL_HOST:ANNEAL_PORT`` (8080), Prometheus metrics on
``ANNEAL_METRICS_PORT`` (9107); calls the services' public ports (``ANNEAL_<NAME>_ADDR``) with
each signed-in person's token, verified at sign-in against ``ANNEAL_TOKENS_FILE``. Signed image
links (``/links/v1/images``) are checked with the key in ``ANNEAL_IMAGE_LINK_KEY_FILE``, read
once here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from anneal.data.archive import Archive
from services.common.image_links import ImageLinks, load_key
from services.common.logs import configure_logging
from services.common.metrics import metrics_registry, start_metrics_server
from services.security.channels import ChannelSecurity
from services.security.token_verifier import TokenVerifier
from services.web import metrics as web_metrics
from services.web.app import create_app
from services.web.context import WebContext
from services.web.image_preview import ImagePreviews
from services.web.sessions import SessionStore
from services.web.settings import WebSettings
from services.web.system_client import SystemClient

_log = logging.getLogger("services.web")


def image_links_from(key_file: str) -> ImageLinks | None:
    """The signer of image links with the key in ``key_file``; None (links off) when the
    setting is empty or the file does not exist; SystemExit when it exists but is no key."""
    if not key_file or not Path(key_file).exists():
        _log.info("no image link key at %r: signed image links are off", key_file)
        return None
    try:
        return ImageLinks(load_key(Path(key_file)))
    except ValueError as exc:
        raise SystemExit(f"error: {exc} (ANNEAL_IMAGE_LINK_KEY_FILE)") from None


def main(argv: Sequence[str] | None = None) -> None:
    values = WebSettings.read(argv)
    if not values.archive:
        raise SystemExit("error: the web app needs the archive folder: set ANNEAL_ARCHIVE")
    if not values.insecure and not values.tokens_file:
        raise SystemExit(
            "error: set ANNEAL_TOKENS_FILE (sign-ins are checked against it), or "
            "ANNEAL_INSECURE=true to run without sign-in (debugging only)"
        )
    configure_logging("web", values.log_level)
    archive = Archive.from_folder(values.archive)
    security = ChannelSecurity(ca=Path(values.tls_ca).read_bytes() if values.tls_ca else None)
    client = SystemClient(values.services.by_name(), security)
    tokens = (
        None if values.insecure else TokenVerifier(Path(values.tokens_file), values.token_reload_s)
    )
    context = WebContext(
        client=client,
        sessions=SessionStore(),
        tokens=tokens,
        image_ids=list(archive.ids),
        secure_cookies=bool(values.tls_cert),
    )
    links = image_links_from(values.image_link_key_file)
    app = create_app(context, ImagePreviews(Path(values.archive)), links)
    start_metrics_server(metrics_registry(web_metrics.COLLECTORS), values.metrics_port, values.host)
    try:
        uvicorn.run(  # SIGTERM / SIGINT: uvicorn stops taking requests and finishes open ones
            app,
            host=values.host,
            port=values.port,
            ssl_certfile=values.tls_cert or None,
            ssl_keyfile=values.tls_key or None,
            log_level=values.log_level.lower(),
            timeout_graceful_shutdown=5,
            access_log=False,
        )
    finally:
        client.close()


if __name__ == "__main__":
    main(sys.argv[1:])
