"""Where the index lives: a pymilvus client for everything, and a searcher for the query path.

A URI ending in ``.db`` is Milvus Lite: this process opens that folder (the only process that
may) and serves it on a loopback port to its own pymilvus client, as pymilvus itself would, but
keeps the engine in hand so searches call it directly (services/search/vector_searcher.py).
Any other URI is a Milvus server, reached by pymilvus for everything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pymilvus import MilvusClient

from services.search.vector_searcher import ClientSearcher, LiteSearcher, VectorSearcher

LITE_STOP_GRACE_S = 2.0


class MilvusConnection:
    """A client, the searcher queries use (by default through the client), and how to close."""

    def __init__(
        self,
        client: MilvusClient,
        searcher: VectorSearcher | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.searcher: VectorSearcher = searcher or ClientSearcher(client)
        self._on_close = on_close

    @classmethod
    def open(cls, uri: str, token: str = "") -> MilvusConnection:
        """Milvus Lite for a path ending in ``.db`` (created if missing), else a server.

        ``token`` (``user:password`` or an API key) authenticates to a server with
        authorisation on; Milvus Lite has none.
        """
        if not uri.endswith(".db"):
            return cls(MilvusClient(uri, token=token))
        from milvus_lite.adapter.grpc.server import start_server_in_thread

        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        server, database, port = start_server_in_thread(str(Path(uri).resolve()))
        client = MilvusClient(f"http://127.0.0.1:{port}")

        def close() -> None:
            server.stop(grace=LITE_STOP_GRACE_S).wait()
            database.close()

        return cls(client, LiteSearcher(database), close)

    def close(self) -> None:
        """Close the client (and stop Milvus Lite, releasing its folder)."""
        self.client.close()
        if self._on_close is not None:
            self._on_close()
