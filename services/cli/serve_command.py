"""``anneal serve``: all six services on loopback, each in its own process, until Ctrl-C.

A service that dies is restarted (services/cli/restart_policy.py) while the others keep
serving; the supervisor says so on the console.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import typer
from rich.table import Table

from anneal.cli.console import output_console
from services.cli.setting_options import option
from services.cli.system_config import SystemConfig
from services.cli.system_start import start_system
from services.common.catalog import SERVICES
from services.common.settings import ARCHIVE, MILVUS_URI, RAY_ADDRESS, STATE_DIR
from services.security.principal import Role


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(
    archive: Path = option(ARCHIVE, ..., "archive folder of images"),
    state_dir: Path = option(STATE_DIR, Path(STATE_DIR.default), "state folder"),
    milvus_uri: str = option(MILVUS_URI, "", "Milvus Lite file or server URI (default: in state)"),
    ray_address: str = option(RAY_ADDRESS, "", "Ray cluster (empty: local)"),
    grpc_port_base: int = typer.Option(
        SERVICES["retrieval"].grpc_port, min=1, max=65000, help="retrieval's port; others follow"
    ),
    metrics_port_base: int = typer.Option(
        SERVICES["retrieval"].metrics_port, min=1, max=65000, help="retrieval's metrics port"
    ),
    feature_cache: str = typer.Option(".cache/features", help="backbone feature store folder"),
    dim: int = typer.Option(128, min=0, help="embedding dimension (0: the backbone's)"),
    insecure: bool = typer.Option(
        False, "--insecure", help="NO TLS and NO access control: for debugging only"
    ),
) -> None:
    """Start the six services, index the archive, and keep serving until Ctrl-C."""
    if not archive.is_dir():
        raise typer.BadParameter(f"{archive} is not a folder", param_hint="--archive")
    console = output_console()
    config = SystemConfig(
        archive=archive.resolve(),
        state_dir=state_dir.resolve(),
        milvus_uri=milvus_uri,
        ray_address=ray_address,
        grpc_port_base=grpc_port_base,
        metrics_port_base=metrics_port_base,
        feature_cache=str(Path(feature_cache).resolve()),
        dim=dim,
        insecure=insecure,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    # one line per message, also when the output is not a terminal (a log file)
    supervisor = start_system(
        config, lambda text: console.print(text, soft_wrap=True), console=console
    )
    try:
        table = Table(title="ANNEAL is serving")
        for column in ("service", "gRPC", "metrics"):
            table.add_column(column)
        for name in supervisor.processes:
            if name == "web":
                continue
            table.add_row(
                name,
                config.address(name),
                f"http://{config.host}:{config.metrics_port(name)}/metrics",
            )
        console.print(table)
        console.print(
            f"[bold]Web app: {config.web_url}[/bold] (sign in with a token; the local ones are in "
            f"{config.security.role_token(Role.READER).parent})"
            if not insecure
            else f"[bold]Web app: {config.web_url}[/bold]"
        )
        if not insecure:
            console.print(
                f"TLS and tokens on. Clients: CA {config.security.ca}, tokens per role in "
                f"{config.security.role_token(Role.READER).parent} (the anneal commands read "
                "them; `anneal token create` makes more)."
            )
        console.print("A service that dies is restarted. Ctrl-C stops every service.")
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        supervisor.stop()
