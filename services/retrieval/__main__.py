"""``python -m services.retrieval``: the retrieval service (settings: docs/architecture.md)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.retrieval.downstream import CHANNEL_OPTIONS
from services.retrieval.server import create_server
from services.retrieval.settings import RetrievalSettings


def main(argv: Sequence[str] | None = None) -> None:
    settings = RetrievalSettings.read(argv)
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    gc.freeze()  # start-up objects live on: full collections need not scan them mid-query
    embedding = calls.channel(settings.embedding_addr, options=CHANNEL_OPTIONS)
    search = calls.channel(settings.search_addr, options=CHANNEL_OPTIONS)
    try:
        run_service(
            SERVICES["retrieval"],
            settings,
            lambda address, security: create_server(
                address, embedding, search, settings.call_timeout, security=security
            ),
        )
    finally:
        embedding.close()
        search.close()


if __name__ == "__main__":
    main(sys.argv[1:])
