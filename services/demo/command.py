"""``anneal demo`` (and ``python -m services.demo``): the demo with its settings as flags."""

from __future__ import annotations

from pathlib import Path

import typer

from anneal.cli.console import output_console
from services.cli.setting_options import option
from services.cli.system_config import SystemConfig
from services.common.catalog import SERVICES
from services.common.settings import ARCHIVE
from services.demo.driver import Demo, DemoSettings


def demo(
    archive: Path = option(
        ARCHIVE, Path("../shared/data/ucmerced"), "labelled archive (class folders)"
    ),
    state_dir: Path = typer.Option(Path(".cache/demo/state"), help="state folder (emptied first)"),
    out: Path = typer.Option(Path("results/demo"), help="where the learning curve goes"),
    rounds: int = typer.Option(3, min=1, max=50),
    budget: int = typer.Option(100, min=1, max=10_000),
    strategy: str = typer.Option("mgue"),
    feature_cache: Path = typer.Option(
        Path(".cache/features"), help="backbone feature store folder (kept)"
    ),
    grpc_port_base: int = typer.Option(SERVICES["retrieval"].grpc_port, min=1, max=65000),
    metrics_port_base: int = typer.Option(SERVICES["retrieval"].metrics_port, min=1, max=65000),
) -> None:
    """Start the system on a labelled archive, run rounds with a simulated annotator under
    live query load, print per-round figures and write the learning curve."""
    if not archive.is_dir():
        raise typer.BadParameter(f"{archive} is not a folder", param_hint="--archive")
    config = SystemConfig(
        archive=archive.resolve(),
        state_dir=state_dir.resolve(),
        feature_cache=str(feature_cache.resolve()),
        grpc_port_base=grpc_port_base,
        metrics_port_base=metrics_port_base,
    )
    settings = DemoSettings(rounds=rounds, budget=budget, strategy=strategy)
    if not Demo(config, settings, out, output_console()).run():
        raise RuntimeError("the demo saw a failed round or failed queries; see the output above")
