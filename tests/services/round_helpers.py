"""Helpers for selection / coordinator / live-rebuild tests: a tiny labelled archive on disk.

Three classes of six 32x32 PNG images each: a solid colour per class (red, green, blue) plus a
little noise, so any reasonable embedding puts each class together and the answers are known.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import numpy as np
from PIL import Image

from anneal.data.archive import Archive
from anneal.models.extract import BatchExtractor, extract_features
from anneal.training.config import TrainConfig
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.common.embedding_files import EmbeddingFiles
from services.common.server import AnnealServer
from services.common.settings import embeddings_folder
from services.coordinator.coordinator import Coordinator
from services.coordinator.downstream import Downstream
from services.coordinator.model_workspace import WorkspaceConfig
from services.coordinator.runner_factory import FullMode, prepare_runner
from services.coordinator.server import create_server as coordinator_server
from services.coordinator.state_store import StateStore
from services.labels.server import create_server as labels_server
from services.labels.store import LabelStore
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.server import create_server as search_server
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.selection.label_client import LabelClient
from services.selection.round_store import RoundStore
from services.selection.rounds import SelectionRounds
from services.selection.server import create_server as selection_server
from services.selection.vector_source import (
    FallbackVectors,
    FileVectors,
    SearchServiceVectors,
)

CLASSES = ("blue", "green", "red")
COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}
PER_CLASS = 6


def add_image(root: Path, name: str, number: int, rng: np.random.Generator) -> str:
    """Write image ``number`` of class ``name`` (its colour plus noise); its id."""
    (root / name).mkdir(parents=True, exist_ok=True)
    noise = rng.integers(-25, 26, size=(32, 32, 3))
    pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(root / name / f"{name}{number:02d}.png")
    return f"{name}/{name}{number:02d}.png"


def make_archive(root: Path, per_class: int = PER_CLASS, seed: int = 0) -> list[str]:
    """Write the archive under ``root``; return its image ids (sorted, as Archive lists them)."""
    rng = np.random.default_rng(seed)
    return sorted(add_image(root, name, i, rng) for name in CLASSES for i in range(per_class))


def class_of(image_id: str) -> str:
    return image_id.split("/")[0]


def class_vectors(ids: Sequence[str], seed: int = 0) -> np.ndarray:
    """Unit 4-D vectors: class c near axis c, a small random tilt per image."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(ids), 4), dtype=np.float32)
    for row, image_id in enumerate(ids):
        out[row, CLASSES.index(class_of(image_id))] = 1.0
        out[row] += rng.normal(0, 0.1, size=4).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def wait_for(stub, check, timeout: float = 60.0) -> pb.GetStatusResponse:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        reply = stub.GetStatus(pb.GetStatusRequest())
        if check(reply):
            return reply
        assert time.monotonic() < deadline, f"timed out; last status {reply}"
        time.sleep(0.1)


def answer(stack: Stack, round_number: int, limit: int = 0) -> int:
    """Answer the round's pending pairs from the class folders; how many were answered."""
    selection = selection_pb2_grpc.SelectionServiceStub(stack.selection)
    pending = selection.ListPendingPairs(
        selection_pb2.ListPendingPairsRequest(round=round_number, limit=limit)
    ).pairs
    labels = [
        labels_pb2.Label(
            round=round_number,
            pair_id=p.pair_id,
            similar=class_of(p.image_a) == class_of(p.image_b),
            idempotency_key=f"r{round_number}-p{p.pair_id}",
        )
        for p in pending
    ]
    if labels:
        labels_pb2_grpc.LabelServiceStub(stack.labels).SubmitLabels(
            labels_pb2.SubmitLabelsRequest(labels=labels)
        )
    return len(labels)


class Stack:
    """Labels, search (Milvus Lite), selection and coordinator servers in this process, secured
    as ``anneal serve`` secures them: TLS, tokens, services calling each other with their
    certificates on the mutual-TLS ports.

    Selection reads an index version's embeddings from the files the coordinator writes
    (``embeddings``, where both default to on one machine), else exports them from search, as
    ``anneal serve`` runs them.

    ``serve`` is the conftest fixture that starts a built server and returns a channel. The test
    channels ``labels`` and ``selection`` carry the local annotator token, ``search`` the
    operator's. The coordinator can be stopped and started again on the same state folder.
    """

    def __init__(
        self, serve: Callable[..., grpc.Channel], root: Path, embedding: grpc.Channel | None = None
    ) -> None:
        self.serve = serve
        self.root = root
        self.state_dir = root / "state"
        self.security = LocalSecurity.of(self.state_dir)
        self.security.ensure(["127.0.0.1"])
        self._channels: list[grpc.Channel] = []
        self.ids = make_archive(root / "archive")
        self.store = LabelStore(root / "labels.db")
        self.manager = IndexManager.open(str(root / "milvus.db"), IndexConfig())
        labels = labels_server("127.0.0.1:0", self.store, security=self.server_security("labels"))
        self.labels_address = f"127.0.0.1:{labels[1]}"
        self.labels = serve(labels, self.security.client(Role.ANNOTATOR))
        search = search_server("127.0.0.1:0", self.manager, security=self.server_security("search"))
        self.search = serve(search, self.security.client(Role.OPERATOR))
        self.internal = {"labels": labels[0].internal_port, "search": search[0].internal_port}
        self.public = {"labels": labels[1], "search": search[1]}
        self.embeddings = EmbeddingFiles(embeddings_folder("", str(self.state_dir)))

        def archive_ids() -> list[str]:
            return Archive.from_folder(root / "archive").ids

        exported = SearchServiceVectors(self.service_channel("selection", "search"), archive_ids)
        rounds = SelectionRounds(
            RoundStore(self.state_dir / "selection"),
            FallbackVectors(FileVectors(self.embeddings, archive_ids), exported),
            LabelClient(self.service_channel("selection", "labels")),
        )
        selection = selection_server(
            "127.0.0.1:0", rounds, security=self.server_security("selection")
        )
        self.selection = serve(selection, self.security.client(Role.ANNOTATOR))
        self.internal["selection"] = selection[0].internal_port
        self.public["selection"] = selection[1]
        self.downstream = Downstream(
            self.service_channel("coordinator", "selection"),
            self.service_channel("coordinator", "labels"),
            self.service_channel("coordinator", "search"),
            embedding,
        )
        self.coordinator: Coordinator | None = None
        self.server_port = 0
        self.server: AnnealServer | None = None

    def server_security(self, name: str) -> ServerSecurity:
        """What ``anneal serve`` gives service ``name``: its certificate and the token file."""
        return ServerSecurity(
            tls=self.security.service_tls(name),
            tokens=TokenVerifier(self.security.tokens_file, reload_interval_s=0.2),
        )

    def service_channel(self, caller: str, callee: str) -> grpc.Channel:
        """``caller``'s channel to ``callee``'s mutual-TLS port (its certificate is its id)."""
        security = ChannelSecurity.for_service(self.security.service_tls(caller))
        channel = security.channel(f"127.0.0.1:{self.internal[callee]}")
        self._channels.append(channel)
        return channel

    def client(self, role: Role, service: str) -> grpc.Channel:
        """A channel to ``service``'s public port with the local token of ``role``."""
        channel = self.security.client(role).channel(f"127.0.0.1:{self.public[service]}")
        self._channels.append(channel)
        return channel

    def start_coordinator(
        self,
        full: FullMode | None = None,
        *,
        train: TrainConfig | None = None,
        extractor: BatchExtractor | None = None,
    ) -> grpc.Channel:
        """Start a coordinator (server + worker) on the stack's state folder, running full
        rounds when given ``full``, training with ``train`` (default: TrainConfig's) and
        computing features with ``extractor`` (default: in this process); an operator's
        channel to it."""

        folder = self.state_dir / "coordinator"
        config = WorkspaceConfig(
            dim=8, cache_dir=str(self.root / "features"), train=train or TrainConfig()
        )
        self.coordinator = Coordinator(
            StateStore(folder),
            lambda: prepare_runner(
                self.root / "archive",
                folder / "models",
                config,
                self.downstream,
                files=self.embeddings,
                full=full,
                ingest=functools.partial(extract_features, extractor=extractor),
            ),
            poll_s=0.1,
            reconcile_s=1.0,
            embeddings=self.embeddings,
        )
        self.coordinator.start()
        self.server, port = coordinator_server(
            "127.0.0.1:0", self.coordinator, security=self.server_security("coordinator")
        )
        self.server.start()
        self.server_port = self.public["coordinator"] = port
        return self.client(Role.OPERATOR, "coordinator")

    def stop_coordinator(self) -> None:
        if self.server is not None:
            self.server.stop(None).wait()
        if self.coordinator is not None:
            self.coordinator.stop()
        self.server = None
        self.coordinator = None

    def close(self) -> None:
        self.stop_coordinator()
        for channel in self._channels:
            channel.close()
        self.manager.close(timeout_s=5)
        self.store.close()
