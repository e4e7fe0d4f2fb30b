"""``python -m services.retrieval``: the retrieval service (settings: docs/architecture.md)."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Mapping, Sequence

import grpc

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.common.settings import SettingsParser, common_settings
from services.retrieval.direct_index import DEFAULT_REFRESH_S, DirectIndex
from services.retrieval.downstream import CHANNEL_OPTIONS
from services.retrieval.index_access import IndexAccess
from services.retrieval.search_client import SearchClient
from services.retrieval.server import DEFAULT_CALL_TIMEOUT_S, create_server
from services.search.index_config import IndexConfig
from services.search.milvus_connection import MilvusConnection
from services.search.milvus_settings import MilvusSettings


def _address(name: str) -> str:
    return f"127.0.0.1:{SERVICES[name].grpc_port}"


def parser(environ: Mapping[str, str] | None = None) -> SettingsParser:
    """The retrieval service's settings: the common ones and the services it calls.

    Flags win over ``environ`` (default: os.environ), which wins over the defaults.
    """
    settings = SettingsParser(SERVICES["retrieval"], environ)
    settings.add(
        "--embedding-addr", "ANNEAL_EMBEDDING_ADDR", _address("embedding"), "embedding host:port"
    )
    settings.add("--search-addr", "ANNEAL_SEARCH_ADDR", _address("search"), "search host:port")
    settings.add(
        "--call-timeout",
        "ANNEAL_CALL_TIMEOUT_S",
        DEFAULT_CALL_TIMEOUT_S,
        "longest downstream call, in seconds (when the caller's deadline allows more)",
        float,
    )
    MilvusSettings.declare(settings, default_uri="")
    settings.add(
        "--index-refresh",
        "ANNEAL_INDEX_REFRESH_S",
        DEFAULT_REFRESH_S,
        "with a Milvus server URI: how often to look for a newly swapped index, in seconds",
        float,
    )
    return settings


def index_access(values: argparse.Namespace, search: grpc.Channel) -> IndexAccess:
    """A Milvus server is read directly; Milvus Lite (or none given) through the search service,
    which alone opens the Lite file."""
    milvus = MilvusSettings.of(values)
    if not milvus.uri or milvus.is_lite:
        return SearchClient(search)
    config = IndexConfig(search_params=milvus.search_params)
    return DirectIndex(
        MilvusConnection.open(milvus.uri, milvus.token), config, values.index_refresh
    )


def main(argv: Sequence[str] | None = None) -> None:
    values = parser().parse(argv)
    settings = common_settings(values)
    try:
        calls = settings.security.client()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    gc.freeze()  # start-up objects live on: full collections need not scan them mid-query
    embedding = calls.channel(values.embedding_addr, options=CHANNEL_OPTIONS)
    search = calls.channel(values.search_addr, options=CHANNEL_OPTIONS)
    index = index_access(values, search)
    try:
        run_service(
            SERVICES["retrieval"],
            settings,
            lambda address, security: create_server(
                address, embedding, index, values.call_timeout, security=security
            ),
        )
    finally:
        index.close()
        embedding.close()
        search.close()


if __name__ == "__main__":
    main(sys.argv[1:])
