"""A real Milvus standalone server (PyPI package ``milvus`` 2.3.5) for integration tests.

Started once per test session (about 7 s here), with its data under pytest's temporary
directory and every port free-picked, and stopped at the end of the session. conftest.py imports
the fixture, so every module shares the one server (a module importing it would get its own).

The package free-picks the gRPC and internal ports but not the embedded etcd's peer port (2380),
so a second server on the same machine would fail to start (and hang until a timeout). An etcd
config file with free ports, added to the package's config template, fixes that.

A test that stops the server (a storage fault) starts its own, ``restart_milvus_server`` brings
it back on the same ports and data. The package checks that each port is free by binding it
without SO_REUSEADDR, which fails for a minute after a stop (connections in TIME_WAIT) although
Milvus itself could bind; the config here checks as Milvus binds.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_MS = 90_000
_ETCD_ANCHOR = "  use:\n    embed: true"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _etcd_config(path: Path, client_port: int) -> None:
    peer = f"http://127.0.0.1:{_free_port()}"
    client = f"http://127.0.0.1:{client_port}"
    path.write_text(
        "name: milvus-test\n"
        f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
        f"initial-cluster: milvus-test={peer}\n"
    )


def _rebindable_config(**values: Any) -> Any:
    """The package's server config, checking ports with SO_REUSEADDR (see the module doc)."""
    from milvus import MilvusServerConfig

    class RebindableConfig(MilvusServerConfig):  # type: ignore[misc]
        def try_bind_port(self, port: int) -> socket.socket | None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
            except OSError:
                sock.close()
                return None
            return sock

    return RebindableConfig(**values)


def _wait_started(server: Any, data_dir: Path) -> None:
    try:
        server.wait_started(timeout=START_TIMEOUT_MS)
    except (TimeoutError, RuntimeError) as exc:
        server.stop()
        raise RuntimeError(f"Milvus did not start ({exc}); see {data_dir}/server/logs") from exc


def kill_milvus_server(server: Any) -> None:
    """SIGKILL the server process: no shutdown, as a crash or an OOM kill would end it."""
    process: subprocess.Popen[bytes] = server.server_proc
    process.kill()
    process.wait(timeout=10)
    server.stop()  # forgets the process, closes its log files


def restart_milvus_server(server: Any, data_dir: Path) -> None:
    """Start a stopped server again on its ports and data (its URI is unchanged)."""
    server.start()
    _wait_started(server, data_dir)


def start_milvus_server(data_dir: Path) -> tuple[Any, str]:
    """Start a Milvus server storing under ``data_dir``; return it and its ``http://`` URI."""
    import milvus
    from milvus import MilvusServer

    package_data = Path(milvus.__file__).parent / "data"
    template_text = (package_data / "config.yaml.template").read_text()
    if _ETCD_ANCHOR not in template_text:
        raise RuntimeError("the milvus package's config template changed; update milvus_server.py")
    template = data_dir / "milvus.yaml.template"
    template.write_text(
        template_text.replace(
            _ETCD_ANCHOR, "  config:\n    path: {{ etcd_config_path }}\n" + _ETCD_ANCHOR, 1
        )
    )
    etcd_port = _free_port()
    etcd_file = data_dir / "embed-etcd.yaml"
    _etcd_config(etcd_file, etcd_port)
    config = _rebindable_config(
        data_dir=str(data_dir / "server"),
        template=str(template),
        etcd_port=etcd_port,
    )
    config.set("etcd_config_path", str(etcd_file))
    config.glog_conf_file = str(package_data / "glog.conf")  # only set for the default template
    server = MilvusServer(config, wait_for_started=False)
    started = time.perf_counter()
    server.start()
    _wait_started(server, data_dir)
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
