"""``anneal ingest``: index the images added to the archive folder while the system serves."""

from __future__ import annotations

from pathlib import Path

import typer

from anneal.cli.console import output_console
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.credentials import CA, STATE_DIR, TOKEN, client_credentials
from services.cli.endpoints import channel, default_address
from services.security.principal import Role

INGEST_TIMEOUT_S = 3600.0
"""Computing the backbone features of many added images takes minutes on a CPU."""


def ingest(
    coordinator: str = typer.Option(default_address("coordinator"), help="coordinator host:port"),
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Index the images added to the archive folder, in place (no rebuild).

    Only the new images are read, embedded with the serving model and added to the serving index.

    Refused while a round is in progress: run it after. Removed images stay in the index.
    """
    security = client_credentials(Role.OPERATOR, token, ca, state_dir)
    with channel(coordinator, security) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        reply = stub.IngestArchive(pb.IngestArchiveRequest(), timeout=INGEST_TIMEOUT_S)
    unreadable = f"; {reply.unreadable} unreadable files left out" if reply.unreadable else ""
    output_console().print(
        f"{reply.added} new images indexed in index version {reply.index_version}"
        f" (model {reply.model_version}): {reply.indexed} images in all{unreadable}"
    )
