"""A real Milvus standalone server (PyPI package ``milvus`` 2.3.5) for integration tests.

Started once per test session (about 7 s here), with its data under pytest's temporary
directory and free ports, and stopped at the end of the session. Import the fixture into a test
module: ``from milvus_server import milvus_server_uri``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def start_milvus_server(data_dir: Path) -> tuple[Any, str]:
    """Start a Milvus server storing under ``data_dir``; return it and its ``http://`` URI."""
    from milvus import MilvusServer, MilvusServerConfig

    server = MilvusServer(MilvusServerConfig(data_dir=str(data_dir)))
    started = time.perf_counter()
    server.start()  # waits for /healthz; picks free ports from 19530 (gRPC) and 9091 (HTTP)
    print(f"Milvus server up in {time.perf_counter() - started:.1f}s on port {server.listen_port}")
    return server, f"http://127.0.0.1:{server.listen_port}"


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a Milvus server shared by the whole session; skipped if ``milvus`` is missing."""
    pytest.importorskip("milvus", reason="the PyPI package milvus==2.3.5 (dev extra) is needed")
    server, uri = start_milvus_server(tmp_path_factory.mktemp("milvus-server"))
    try:
        yield uri
    finally:
        server.stop()
