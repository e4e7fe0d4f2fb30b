"""``anneal label``: answer a round's pending pairs, interactively or from a CSV file."""

from __future__ import annotations

from pathlib import Path

import click
import typer
from rich.console import Console

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.cli.console import output_console
from services.cli.credentials import CA, STATE_DIR, TOKEN, client_credentials
from services.cli.endpoints import channel, default_address
from services.cli.label_answers import Answer, read_answers
from services.security.channels import ChannelSecurity
from services.security.principal import Role

TIMEOUT_S = 30.0
BATCH = 500


def _latest_round(coordinator: str, security: ChannelSecurity) -> int:
    with channel(coordinator, security) as ch:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        reply = stub.GetStatus(coordinator_pb2.GetStatusRequest(), timeout=TIMEOUT_S)
    if not reply.HasField("round"):
        raise ValueError("no round has been started; run `anneal round start` first")
    return int(reply.round.round)


def _label(round_number: int, answer: Answer, key_prefix: str) -> labels_pb2.Label:
    """A label the server stores under the caller's identity (its token's name)."""
    label = labels_pb2.Label(
        round=round_number,
        similar=answer.similar,
        idempotency_key=f"{key_prefix}:r{round_number}:{answer.key}",
    )
    if answer.images is not None:
        label.images.CopyFrom(
            labels_pb2.ImagePair(image_a=answer.images[0], image_b=answer.images[1])
        )
    else:
        label.pair_id = answer.pair_id or 0
    return label


def _interactive(
    round_number: int, selection: str, security: ChannelSecurity, console: Console
) -> list[Answer]:
    with channel(selection, security) as ch:
        stub = selection_pb2_grpc.SelectionServiceStub(ch)
        request = selection_pb2.ListPendingPairsRequest(round=round_number)
        pending = stub.ListPendingPairs(request, timeout=TIMEOUT_S).pairs
    console.print(f"round {round_number}: {len(pending)} pairs to answer (y / n / s skip / q quit)")
    answers = []
    for pair in pending:
        choice = (
            click.prompt(
                f"[{pair.pair_id}] {pair.image_a}  vs  {pair.image_b}  similar?",
                default="s",
                type=click.Choice(["y", "n", "s", "q"], case_sensitive=False),
            )
            .strip()
            .lower()
        )
        if choice == "q":
            break
        if choice in ("y", "n"):
            answers.append(Answer(choice == "y", pair_id=pair.pair_id))
    return answers


def label(
    from_file: Path | None = typer.Option(None, "--from", help="CSV of answers (see docs)"),
    round_number: int = typer.Option(0, "--round", min=0, help="round (0: the latest)"),
    key_prefix: str = typer.Option(
        "cli",
        help="prefix of the answers' idempotency keys (answers are stored as your token's name)",
    ),
    coordinator: str = typer.Option(default_address("coordinator"), help="coordinator host:port"),
    selection: str = typer.Option(default_address("selection"), help="selection host:port"),
    labels: str = typer.Option(default_address("labels"), help="label service host:port"),
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Answer a round's pending pairs (similar or not) and store the answers."""
    console = output_console()
    answers = read_answers(from_file) if from_file is not None else None
    if not key_prefix.strip():
        raise typer.BadParameter("must not be empty", param_hint="--key-prefix")
    security = client_credentials(Role.ANNOTATOR, token, ca, state_dir)
    number = round_number or _latest_round(coordinator, security)
    if answers is None:
        answers = _interactive(number, selection, security, console)
    stored = duplicates = 0
    with channel(labels, security) as ch:
        stub = labels_pb2_grpc.LabelServiceStub(ch)
        for start in range(0, len(answers), BATCH):
            batch = [_label(number, a, key_prefix) for a in answers[start : start + BATCH]]
            reply = stub.SubmitLabels(
                labels_pb2.SubmitLabelsRequest(labels=batch), timeout=TIMEOUT_S
            )
            for result in reply.results:
                if result.outcome == labels_pb2.SUBMIT_OUTCOME_DUPLICATE:
                    duplicates += 1
                else:
                    stored += 1
    console.print(f"round {number}: {stored} answers stored, {duplicates} already stored")
