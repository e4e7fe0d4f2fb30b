"""``python -m services.web``: the web app for people (settings: docs/architecture.md).

Serves the pages and the JSON API on ``ANNEAL_HOST:ANNEAL_PORT`` (8080), Prometheus metrics on
``ANNEAL_METRICS_PORT`` (9107); calls the services' public ports (``ANNEAL_<NAME>_ADDR``) with
each signed-in person's token, verified at sign-in against ``ANNEAL_TOKENS_FILE``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import uvicorn

from anneal.data.archive import Archive
from services.common.catalog import SERVICES
from services.common.logs import configure_logging
from services.common.metrics import metrics_registry, start_metrics_server
from services.security.channels import ChannelSecurity
from services.security.settings import boolean
from services.security.token_verifier import TokenVerifier
from services.web import metrics as web_metrics
from services.web.app import create_app
from services.web.context import WebContext
from services.web.image_preview import ImagePreviews
from services.web.sessions import SessionStore
from services.web.system_client import SystemClient

WEB_PORT = 8080
WEB_METRICS_PORT = 9107


def parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Flags win over ``ANNEAL_*`` variables, which win over the defaults."""
    env = os.environ if environ is None else environ
    p = argparse.ArgumentParser(prog="python -m services.web", description="ANNEAL web app")

    def add(flag: str, variable: str, default: object, help_text: str, kind: object = str) -> None:
        p.add_argument(
            flag,
            type=kind,  # type: ignore[arg-type]
            default=env.get(variable, default),
            help=f"{help_text} (env {variable}; default %(default)s)",
        )

    add("--host", "ANNEAL_HOST", "127.0.0.1", "address to listen on")
    add("--port", "ANNEAL_PORT", WEB_PORT, "HTTP port", int)
    add("--metrics-port", "ANNEAL_METRICS_PORT", WEB_METRICS_PORT, "Prometheus port", int)
    add("--log-level", "ANNEAL_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR")
    add("--archive", "ANNEAL_ARCHIVE", "", "archive folder (browsing and previews)")
    for name, spec in SERVICES.items():
        add(
            f"--{name}-addr",
            f"ANNEAL_{name.upper()}_ADDR",
            f"127.0.0.1:{spec.grpc_port}",
            f"{name} service's public host:port",
        )
    add("--tls-ca", "ANNEAL_TLS_CA", "", "PEM CA bundle that verifies the services")
    add("--tls-cert", "ANNEAL_TLS_CERT", "", "PEM certificate to serve HTTPS with (empty: HTTP)")
    add("--tls-key", "ANNEAL_TLS_KEY", "", "PEM key of --tls-cert")
    add("--tokens-file", "ANNEAL_TOKENS_FILE", "", "hashed tokens, to check sign-ins")
    add("--token-reload-s", "ANNEAL_TOKEN_RELOAD_S", 5.0, "token file check interval", float)
    add("--insecure", "ANNEAL_INSECURE", False, "true: no TLS, no sign-in (debugging)", boolean)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    values = parser().parse_args(argv)
    if not values.archive:
        raise SystemExit("error: the web app needs the archive folder: set ANNEAL_ARCHIVE")
    if not values.insecure and not values.tokens_file:
        raise SystemExit(
            "error: set ANNEAL_TOKENS_FILE (sign-ins are checked against it), or "
            "ANNEAL_INSECURE=true to run without sign-in (debugging only)"
        )
    configure_logging("web", values.log_level.upper())
    archive = Archive.from_folder(values.archive)
    security = ChannelSecurity(ca=Path(values.tls_ca).read_bytes() if values.tls_ca else None)
    client = SystemClient({name: getattr(values, f"{name}_addr") for name in SERVICES}, security)
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
    app = create_app(context, ImagePreviews(Path(values.archive)))
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
