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
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from round_helpers import Stack, wait_for

from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.embedding.v1 import embedding_pb2
from annealpb.labels.v1 import labels_pb2
from annealpb.retrieval.v1 import retrieval_pb2
from annealpb.search.v1 import search_pb2
from services.common.catalog import SERVICES
from services.common.server import AnnealServer
from services.common.vector_chunks import pack_chunks
from services.embedding.model_catalog import ModelCatalog
from services.embedding.server import create_server as embedding_server
from services.retrieval.search_client import SearchClient
from services.retrieval.server import create_server as retrieval_server
from services.security.channels import ChannelSecurity
from services.security.policy_matrix import Caller, Rpc, Verdict, verdict
from services.security.principal import Role

_ROLES = (Role.OPERATOR, Role.ANNOTATOR, Role.READER)
_RETRIEVAL = "/anneal.retrieval.v1.RetrievalService/"
_EMBEDDING = "/anneal.embedding.v1.EmbeddingService/"
_SEARCH = "/anneal.search.v1.SearchService/"
_LABELS = "/anneal.labels.v1.LabelService/"


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
            SearchClient(stack.service_channel("retrieval", "search")),
            security=stack.server_security("retrieval"),
        )
        self._serve(built)
        stack.internal["retrieval"] = built[0].internal_port
        stack.public["retrieval"] = built[1]
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
        wait_for(stub, lambda reply: reply.serving_index_version == 1)  # archive indexed
        self._channels: dict[tuple[str, str], grpc.Channel] = {}
        self.hints = Hints(
            strings=[*stack.ids[:4], "pretrained", "round-0", "round-0-d8"],
            numbers=(0, 1, 2, 5),
            calls=self._valid_calls(),
        )

    def _valid_calls(self) -> dict[str, list[list[Message]]]:
        """One or two calls per RPC that succeed (or nearly), for the fuzz to change a little."""
        serving = self.stack.manager.current()
        assert serving is not None
        (batch,) = list(self.stack.manager.export(serving.version, 100, False))
        ids, rows = batch.ids, batch.vectors.tolist()
        image = (self.stack.root / "archive" / ids[0]).read_bytes()
        vector = retrieval_pb2.Vector(values=rows[0])
        by_id = retrieval_pb2.RetrieveRequest(query=retrieval_pb2.Query(image_id=ids[0]), k=3)
        by_vector = retrieval_pb2.RetrieveRequest(query=retrieval_pb2.Query(vector=vector), k=3)
        by_image = retrieval_pb2.RetrieveRequest(query=retrieval_pb2.Query(image=image), k=3)
        items = [
            search_pb2.IndexItem(image_id=i, vector=search_pb2.Vector(values=row))
            for i, row in zip(ids, rows, strict=True)
        ]
        options = search_pb2.BuildOptions(
            version=serving.version + 1, model_version=serving.model_version
        )
        chunk = embedding_pb2.ImageChunk(image_id=ids[0], data=image, last=True)
        pair = labels_pb2.ImagePair(image_a=ids[0], image_b=ids[1])
        return {
            _RETRIEVAL + "Retrieve": [[by_id], [by_vector], [by_image]],
            _RETRIEVAL + "RetrieveBatch": [
                [retrieval_pb2.RetrieveBatchRequest(requests=[by_id, by_vector])]
            ],
            _EMBEDDING + "EmbedImages": [
                [
                    embedding_pb2.EmbedImagesRequest(options=embedding_pb2.EmbedOptions()),
                    embedding_pb2.EmbedImagesRequest(chunk=chunk),
                ]
            ],
            _SEARCH + "Search": [
                [search_pb2.SearchRequest(vectors=[search_pb2.Vector(values=rows[1])], k=3)],
                [search_pb2.SearchRequest(image_ids=ids[:2], k=3)],
            ],
            _SEARCH + "GetVector": [[search_pb2.GetVectorRequest(image_id=ids[2])]],
            _SEARCH + "BuildIndex": [
                [
                    search_pb2.BuildIndexRequest(options=options, items=items[:9]),
                    search_pb2.BuildIndexRequest(items=items[9:]),
                ]
            ],
            _SEARCH + "AddToIndex": [  # ids the version holds: skipped, so nothing changes
                [search_pb2.AddToIndexRequest(version=serving.version, chunk=chunk)]
                for chunk in pack_chunks(ids[:2], batch.vectors[:2])
            ],
            _SEARCH + "ExportVectors": [
                [search_pb2.ExportVectorsRequest(version=serving.version, batch_size=5)]
            ],
            _LABELS + "OpenRound": [[labels_pb2.OpenRoundRequest(round=7, pairs=[pair])]],
            _LABELS + "ListLabels": [[labels_pb2.ListLabelsRequest(round=7, page_size=5)]],
        }

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
        stack.manager.wait_retired(10)  # a version swapped out earlier is dropped in the background
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
