"""``python -m services.retrieval``: the retrieval service (settings: docs/architecture.md)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

import grpc

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.retrieval.direct_index import DirectIndex
from services.retrieval.downstream import CHANNEL_OPTIONS
from services.retrieval.index_access import IndexAccess
from services.retrieval.search_client import SearchClient
from services.retrieval.server import create_server
from services.retrieval.settings import RetrievalSettings
from services.search.index_config import IndexConfig
from services.search.milvus_connection import MilvusConnection


def index_access(settings: RetrievalSettings, search: grpc.Channel) -> IndexAccess:
    """A Milvus server is read directly; Milvus Lite (or none given) through the search service,
    which alone opens the Lite file."""
    milvus = settings.milvus
    if not milvus.uri or milvus.is_lite:
        return SearchClient(search)
    config = IndexConfig(search_params=milvus.search_params)
    return DirectIndex(
        MilvusConnection.open(milvus.uri, milvus.token()), config, settings.index_refresh
    )


def main(argv: Sequence[str] | None = None) -> None:
    settings = RetrievalSettings.read(argv)
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    gc.freeze()  # start-up objects live on: full collections need not scan them mid-query
    embedding = calls.channel(settings.embedding_addr, options=CHANNEL_OPTIONS)
    search = calls.channel(settings.search_addr, options=CHANNEL_OPTIONS)
    index = index_access(settings, search)
    try:
        run_service(
            SERVICES["retrieval"],
            settings,
            lambda address, security: create_server(
                address, embedding, index, settings.call_timeout, security=security
            ),
        )
    finally:
        index.close()
        embedding.close()
        search.close()


if __name__ == "__main__":
    main(sys.argv[1:])
