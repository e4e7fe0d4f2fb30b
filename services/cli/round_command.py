"""``anneal round start|status|close``: drive rounds through the coordinator."""

from __future__ import annotations

from pathlib import Path

import typer

from anneal.al.round_parameters import MAX_BUDGET
from anneal.al.strategies import STRATEGIES
from anneal.cli.console import output_console
from anneal.training.config import TRAINING_MODES
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.credentials import CA, STATE_DIR, TOKEN, client_credentials
from services.cli.endpoints import channel, default_address
from services.cli.status_view import rounds_table, state_name
from services.coordinator.annotators_per_pair import (
    DEFAULT_ANNOTATORS_PER_PAIR,
    MAX_ANNOTATORS_PER_PAIR,
)
from services.security.channels import ChannelSecurity
from services.security.principal import Role

app = typer.Typer(help="Start, follow and close active-learning rounds.", no_args_is_help=True)
COORDINATOR = typer.Option(default_address("coordinator"), help="coordinator host:port")
START_TIMEOUT_S = 600.0


def _operator(token: str | None, ca: Path | None, state_dir: Path) -> ChannelSecurity:
    return client_credentials(Role.OPERATOR, token, ca, state_dir)


@app.command()
def start(
    strategy: str = typer.Option("mgue", help=f"one of {', '.join(STRATEGIES)}"),
    budget: int = typer.Option(100, min=1, max=MAX_BUDGET, help="pairs to select"),
    seed: int = typer.Option(0, min=0, help="seed of the selection"),
    close_when_answered: bool = typer.Option(
        True, help="train as soon as every pair is answered (else wait for `round close`)"
    ),
    mode: str = typer.Option(
        "head",
        help=f"training mode, one of {', '.join(TRAINING_MODES)}: the head on cached features"
        " (CPU), or the backbone fine-tuned on Ray Train (GPUs)",
    ),
    annotators_per_pair: int = typer.Option(
        DEFAULT_ANNOTATORS_PER_PAIR,
        min=1,
        max=MAX_ANNOTATORS_PER_PAIR,
        help="how many annotators should answer each pair (a labelling service's overlap)",
    ),
    coordinator: str = COORDINATOR,
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Start the next round: select pairs for people to label."""
    request = pb.StartRoundRequest(
        strategy=strategy,
        budget=budget,
        seed=seed,
        close_when_answered=close_when_answered,
        mode=mode,
        annotators_per_pair=annotators_per_pair,
    )
    with channel(coordinator, _operator(token, ca, state_dir)) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        status = stub.StartRound(request, timeout=START_TIMEOUT_S).status
    output_console().print(
        f"round {status.round} ({status.mode} mode) is {state_name(status.state)}:"
        f" {status.budget} pairs to label (`anneal label`),"
        f" {status.annotators_per_pair or DEFAULT_ANNOTATORS_PER_PAIR} annotator(s) per pair"
    )


@app.command()
def status(
    round_number: int = typer.Argument(0, min=0, help="round (0: all)"),
    coordinator: str = COORDINATOR,
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Show rounds: state, labelled pairs, index and model versions, mAP@20, stage times."""
    with channel(coordinator, _operator(token, ca, state_dir)) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        if round_number:
            rounds = [stub.GetStatus(pb.GetStatusRequest(round=round_number), timeout=30).round]
        else:
            rounds = list(stub.ListRounds(pb.ListRoundsRequest(), timeout=30).rounds)
    output_console().print(rounds_table(rounds))


@app.command()
def close(
    round_number: int = typer.Argument(0, min=0, help="round (0: the latest)"),
    coordinator: str = COORDINATOR,
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Stop collecting labels for a round; it trains on the answers it has."""
    with channel(coordinator, _operator(token, ca, state_dir)) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        number = round_number or stub.GetStatus(pb.GetStatusRequest(), timeout=30).round.round
        if not number:
            raise ValueError("no round has been started; run `anneal round start` first")
        status = stub.CloseRound(pb.CloseRoundRequest(round=number), timeout=30).status
    output_console().print(
        f"round {status.round} closed with {status.labelled_pairs} labelled pairs"
    )
