"""The bridge tests' rig: a real Label Studio (once per session), and per
test a secured label server, a stand-in coordinator answering ListRounds with each round's
annotators per pair, and the bridge built from its settings, as ``python -m
services.labelstudio`` builds it, with its webhook receiver served over HTTP on loopback."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from label_studio_server import LabelStudioServer, label_studio  # noqa: F401
from round_settings import RoundSettings, serve_round_settings

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.common.image_links import create_key
from services.common.server import AnnealServer
from services.labels.records import ImagePair
from services.labels.server import create_server as create_label_server
from services.labels.store import LabelStore
from services.labelstudio.__main__ import build
from services.labelstudio.bridge import Bridge
from services.labelstudio.settings import BridgeSettings
from services.labelstudio.webhook_app import create_app
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.security.tokens import create_token

REPO_ROOT = Path(__file__).resolve().parents[2]
BRIDGE_TOKEN_NAME = "labelstudio"
WEBHOOK_SECRET = "webhook-secret-of-the-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WebhookServer:
    """The bridge's FastAPI app under uvicorn on a thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_webhooks(bridge: Bridge, secret: str, port: int) -> WebhookServer:
    config = uvicorn.Config(
        create_app(bridge, secret), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return WebhookServer(f"http://127.0.0.1:{port}/webhook", server, thread)


@dataclass
class BridgeRig:
    """Everything one test drives: Label Studio, the label store behind its secured server,
    the stand-in coordinator, the bridge's settings, and (once built) the bridge."""

    studio: LabelStudioServer
    store: LabelStore
    operator: labels_pb2_grpc.LabelServiceStub
    rounds: RoundSettings
    environ: dict[str, str]
    state_dir: Path
    webhook: WebhookServer | None = None
    bridge: Bridge | None = None

    @property
    def title_prefix(self) -> str:
        return self.environ["ANNEAL_LABELSTUDIO_TITLE_PREFIX"]

    def open_round(self, number: int, pairs: list[tuple[str, str]], overlap: int = 1) -> None:
        self.rounds.annotators_per_pair[number] = overlap
        self.store.open_round(number, [ImagePair.canonical(a, b) for a, b in pairs])

    def start(self, webhooks: bool = True) -> Bridge:
        """Builds the bridge from its settings; with ``webhooks``, registers a receiver URL on
        a free port and serves the bridge's app there."""
        environ = dict(self.environ)
        port = free_port()
        if webhooks:
            environ["ANNEAL_LABELSTUDIO_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/webhook"
        self.bridge = build(BridgeSettings.read([], environ))[0]
        if webhooks:
            self.webhook = serve_webhooks(self.bridge, WEBHOOK_SECRET, port)
        return self.bridge

    def labels(self, number: int = 1) -> list[tuple[str, int, bool, str, bool]]:
        """(annotator, pair id, similar, key, withdrawn) of every label of a round."""
        pairs = {
            (p.image_a, p.image_b): p.pair_id
            for p in self.operator.ListPairs(pb.ListPairsRequest(round=number), timeout=10).pairs
        }
        request = pb.ListLabelsRequest(round=number, include_withdrawn=True, page_size=1000)
        return [
            (
                x.annotator_id,
                pairs[(x.pair.image_a, x.pair.image_b)],
                x.similar,
                x.idempotency_key,
                x.withdrawn_at_unix_ms > 0,
            )
            for x in self.operator.ListLabels(request, timeout=10).labels
        ]

    def counted(self) -> list[tuple[str, int, bool]]:
        """(annotator, pair id, similar) of the answers that count (not withdrawn)."""
        return sorted((a, p, s) for a, p, s, _k, w in self.labels() if not w)


def secured_label_server(local: LocalSecurity, store: LabelStore) -> tuple[AnnealServer, int]:
    security = ServerSecurity(
        tls=local.service_tls("labels"), tokens=TokenVerifier(local.tokens_file, 0.2)
    )
    return create_label_server("127.0.0.1:0", store, security=security)


@pytest.fixture
def rig(
    tmp_path: Path,
    label_studio: LabelStudioServer,  # noqa: F811
) -> Iterator[BridgeRig]:
    local = LocalSecurity.of(tmp_path / "state")
    local.ensure(["127.0.0.1"])
    bridge_token = create_token(local.tokens_file, BRIDGE_TOKEN_NAME, Role.LABELLING_SERVICE)[0]
    (tmp_path / "bridge.token").write_text(bridge_token)
    (tmp_path / "ls.token").write_text(label_studio.admin_token)
    (tmp_path / "webhook.secret").write_text(WEBHOOK_SECRET)
    create_key(tmp_path / "image-links.key")
    store = LabelStore(tmp_path / "labels.db")
    labels_server, labels_port = secured_label_server(local, store)
    labels_server.start()
    rounds = RoundSettings()
    coordinator_server, coordinator_port = serve_round_settings(rounds, local)
    operator_channel = local.client(Role.OPERATOR).channel(f"127.0.0.1:{labels_port}")
    environ = {
        "ANNEAL_LABEL_STUDIO_URL": label_studio.url,
        "ANNEAL_LABEL_STUDIO_TOKEN_FILE": str(tmp_path / "ls.token"),
        "ANNEAL_TOKEN_FILE": str(tmp_path / "bridge.token"),
        "ANNEAL_TLS_CA": str(local.ca),
        "ANNEAL_LABELS_ADDR": f"127.0.0.1:{labels_port}",
        "ANNEAL_COORDINATOR_ADDR": f"127.0.0.1:{coordinator_port}",
        "ANNEAL_LABELSTUDIO_WEBHOOK_SECRET_FILE": str(tmp_path / "webhook.secret"),
        "ANNEAL_LABELSTUDIO_IMAGE_BASE_URL": "http://127.0.0.1:8080",
        "ANNEAL_IMAGE_LINK_KEY_FILE": str(tmp_path / "image-links.key"),
        "ANNEAL_LABELSTUDIO_DB": str(tmp_path / "bridge.db"),
        "ANNEAL_LABELSTUDIO_TITLE_PREFIX": f"T{uuid.uuid4().hex[:10]}",
    }
    built = BridgeRig(
        studio=label_studio,
        store=store,
        operator=labels_pb2_grpc.LabelServiceStub(operator_channel),
        rounds=rounds,
        environ=environ,
        state_dir=tmp_path,
    )
    yield built
    if built.webhook is not None:
        built.webhook.stop()
    if built.bridge is not None:
        built.bridge.store.close()
    operator_channel.close()
    labels_server.stop(None).wait()
    coordinator_server.stop(None).wait()
