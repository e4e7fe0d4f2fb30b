"""All six services, real and secured, in this process, for the fuzz suite.

:class:`Stack` (round_helpers) gives labels, search, selection and the coordinator as ``anneal
serve`` secures them; this adds the embedding service (the shared local Ray pool) and retrieval
calling embedding and search. Each RPC is called by a caller the policy admits (a token on the
public port, else a service certificate on the mutual-TLS port), so the fuzz reaches the
servicer. :meth:`FuzzSystem.snapshot` reads the stored state in-process (label tables, index
collections, loaded models, the selection and coordinator state files), to show that a refused
call changed nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import grpc
from embedding_fixtures import fresh_catalog, shared_pool
from fuzz_requests import Hints
from grpc_health.v1 import health_pb2, health_pb2_grpc
from round_helpers import Stack, wait_for

from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.common.catalog import SERVICES
from services.common.server import AnnealServer
from services.embedding.model_catalog import ModelCatalog
from services.embedding.server import create_server as embedding_server
from services.retrieval.server import create_server as retrieval_server
from services.security.channels import ChannelSecurity
from services.security.policy_matrix import Caller, Rpc, Verdict, verdict
from services.security.principal import Role

_ROLES = (Role.OPERATOR, Role.ANNOTATOR, Role.READER)


class FuzzSystem:
    """The six servers on loopback; channels per (caller, service); state snapshots."""

    def __init__(self, root: Path) -> None:
        self._started: list[tuple[AnnealServer, grpc.Channel]] = []
        self.stack = Stack(self._serve, root)
        stack = self.stack
        self.catalog: ModelCatalog = fresh_catalog()
        built = embedding_server(
            "127.0.0.1:0",
            shared_pool(),
            self.catalog,
            security=stack.server_security("embedding"),
        )
        self._serve(built)
        stack.internal["embedding"] = built[0].internal_port
        stack.public["embedding"] = built[1]
        built = retrieval_server(
            "127.0.0.1:0",
            stack.service_channel("retrieval", "embedding"),
            stack.service_channel("retrieval", "search"),
            security=stack.server_security("retrieval"),
        )
        self._serve(built)
        stack.internal["retrieval"] = built[0].internal_port
        stack.public["retrieval"] = built[1]
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
        wait_for(stub, lambda reply: reply.serving_index_version == 1)  # archive indexed
        self._channels: dict[tuple[str, str], grpc.Channel] = {}
        self.hints = Hints(strings=[*stack.ids[:4], "round-0", "round-0-d8"], numbers=(0, 1, 2, 5))

    def _serve(
        self, built: tuple[AnnealServer, int], security: ChannelSecurity | None = None
    ) -> grpc.Channel:
        server, port = built
        server.start()
        channel = (security or ChannelSecurity()).channel(f"127.0.0.1:{port}")
        self._started.append((server, channel))
        return channel

    def caller_for(self, rpc: Rpc) -> Caller:
        """A caller the policy admits to ``rpc``: a token if any role may call it, else a
        service certificate."""
        callers = Caller.everyone()
        ranked = sorted(
            (c for c in callers if c.principal is not None),
            key=lambda c: _ROLES.index(c.principal.role) if c.principal.role in _ROLES else 9,  # type: ignore[union-attr]
        )
        for caller in ranked:
            if verdict(rpc, caller) is Verdict.ALLOWED:
                return caller
        raise AssertionError(f"no caller may call {rpc.full_name}")

    def channel_for(self, rpc: Rpc) -> grpc.Channel:
        """The admitted caller's channel to the service of ``rpc``."""
        caller = self.caller_for(rpc)
        key = (caller.label, rpc.service)
        if key not in self._channels:
            principal = caller.principal
            assert principal is not None
            if principal.role is Role.SERVICE:
                self._channels[key] = self.stack.service_channel(principal.name, rpc.service)
            else:
                self._channels[key] = self.stack.client(principal.role, rpc.service)
        return self._channels[key]

    def health(self, service: str) -> int:
        """The health status the service reports for itself (on its public port, no token)."""
        channel = self.stack.security.client(Role.READER).channel(
            f"127.0.0.1:{self.stack.public[service]}"
        )
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICES[service].full_service_name),
                timeout=10,
            )
        finally:
            channel.close()
        return int(reply.status)

    def snapshot(self) -> tuple[object, ...]:
        """The stored state of all six: equal before and after a call that changed nothing."""
        stack = self.stack
        serving = stack.manager.current()
        return (
            _table_counts(stack.root / "labels.db"),
            tuple(stack.manager.collections()),
            serving.version if serving else 0,
            tuple(sorted(r.version for r in self.catalog.records())),
            self.catalog.default_version,
            _files_digest(stack.state_dir / "selection"),
            _files_digest(stack.state_dir / "coordinator", skip="models"),
        )

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self.stack.close()
        for server, channel in self._started:
            channel.close()
            server.stop(None).wait()


def _table_counts(path: Path) -> tuple[tuple[str, int, int], ...]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return tuple(
            (name, *connection.execute(f'SELECT count(*), total(rowid) FROM "{name}"').fetchone())
            for name in names
        )
    finally:
        connection.close()


def _files_digest(folder: Path, skip: str = "") -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not (skip and skip in path.relative_to(folder).parts):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
