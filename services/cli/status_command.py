"""``anneal status``: health of every service and what serves queries."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from anneal.cli.console import output_console
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.credentials import CA, STATE_DIR, TOKEN, client_credentials
from services.cli.endpoints import channel, default_address
from services.cli.status_view import extraction_line, state_name
from services.common.catalog import SERVICES
from services.common.health_check import health_of
from services.security.channels import ChannelSecurity
from services.security.principal import Role


def _health(name: str, address: str, security: ChannelSecurity) -> str:
    with channel(address, security) as ch:
        return health_of(name, ch)


def status(
    host: str = typer.Option("", help="host of every service (else ANNEAL_<NAME>_ADDR / defaults)"),
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Health of the six services, the serving index and the latest round."""
    console = output_console()
    security = client_credentials(Role.READER, token, ca, state_dir)
    table = Table(title="services")
    for column in ("service", "address", "health"):
        table.add_column(column)
    addresses = {
        name: f"{host}:{spec.grpc_port}" if host else default_address(name)
        for name, spec in SERVICES.items()
    }
    for name, address in addresses.items():
        table.add_row(name, address, _health(name, address, security))
    console.print(table)
    with channel(addresses["coordinator"], security) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        reply = stub.GetStatus(pb.GetStatusRequest(), timeout=10)
    console.print(
        f"serving index v{reply.serving_index_version} (model {reply.serving_model_version or '-'})"
    )
    if reply.HasField("extraction") and reply.extraction.running:
        console.print(extraction_line(reply.extraction))
    if reply.HasField("round"):
        r = reply.round
        console.print(
            f"round {r.round} ({r.mode or 'head'} mode): {state_name(r.state)},"
            f" {r.labelled_pairs}/{r.budget} pairs labelled"
            + (f", error: {r.error}" if r.error else "")
        )
