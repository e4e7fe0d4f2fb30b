"""``anneal labels export|import|backup``: keep the labels, the one irreplaceable data, safe.

All three are clients of the label service, with the operator's token: export pages through
``ListRounds`` / ``ListPairs`` / ``ListLabels`` into a CSV or Parquet file (label_file.py),
import sends it back with ``ImportLabels`` (idempotent by key: a second import changes nothing
and says so), backup asks the service for an online backup into its own backup folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

import typer
from rich.progress import (
    Progress,
    TaskID,
)

from anneal.cli.console import output_console
from anneal.cli.progress_bar import progress_bar
from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.cli.credentials import CA, STATE_DIR, TOKEN, client_credentials
from services.cli.endpoints import channel, default_address
from services.cli.label_file import ANSWERS, FileFormat, LabelRow, read_rows, write_rows
from services.security.principal import Role

app = typer.Typer(help="Export, import and back up the label store.", no_args_is_help=True)
LABELS = typer.Option(default_address("labels"), help="label service host:port")
TIMEOUT_S = 60.0
BACKUP_TIMEOUT_S = 600.0
PAGE = 1000
_STATE_NAMES = {pb.ROUND_STATE_OPEN: "open", pb.ROUND_STATE_CLOSED: "closed"}
_STATE_CODES = {name: code for code, name in _STATE_NAMES.items()}


def _round_rows(
    stub: labels_pb2_grpc.LabelServiceStub, info: pb.RoundInfo, progress: Progress, task: TaskID
) -> Iterator[LabelRow]:
    """The rows of one round: its answers in store order (withdrawn ones too), then its pairs
    that have none."""
    state = _STATE_NAMES[info.state]
    closed = info.closed_at_unix_ms or None

    def row(pair: pb.Pair, label: pb.StoredLabel | None) -> LabelRow:
        return LabelRow(
            round=info.round,
            round_state=state,
            round_opened_at_unix_ms=info.opened_at_unix_ms,
            round_closed_at_unix_ms=closed,
            pair_id=pair.pair_id,
            image_a=pair.image_a,
            image_b=pair.image_b,
            answer="" if label is None else ("similar" if label.similar else "dissimilar"),
            annotator="" if label is None else label.annotator_id,
            key="" if label is None else label.idempotency_key,
            created_at_unix_ms=None if label is None else label.created_at_unix_ms,
            withdrawn_at_unix_ms=None if label is None else label.withdrawn_at_unix_ms or None,
        )

    answered: set[int] = set()
    token = ""
    while True:
        request = pb.ListLabelsRequest(
            round=info.round, page_size=PAGE, page_token=token, include_withdrawn=True
        )
        page = stub.ListLabels(request, timeout=TIMEOUT_S)
        for label in page.labels:
            answered.add(label.pair.pair_id)
            yield row(label.pair, label)
        progress.advance(task, len(page.labels))
        token = page.next_page_token
        if not token:
            break
    pairs = stub.ListPairs(pb.ListPairsRequest(round=info.round), timeout=TIMEOUT_S).pairs
    for pair in pairs:
        if pair.pair_id not in answered:
            yield row(pair, None)


@app.command()
def export(
    out: Path = typer.Option(..., "--out", help="file to write (replaced once complete)"),
    file_format: FileFormat = typer.Option(FileFormat.CSV, "--format", help="csv or parquet"),
    labels: str = LABELS,
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Write every round, pair and answer (withdrawn ones too) to a CSV or Parquet file."""
    console = output_console()
    security = client_credentials(Role.OPERATOR, token, ca, state_dir)
    with channel(labels, security) as ch, progress_bar(console, transient=True) as progress:
        stub = labels_pb2_grpc.LabelServiceStub(ch)
        rounds = stub.ListRounds(pb.ListRoundsRequest(), timeout=TIMEOUT_S).rounds
        counted = sum(
            stub.GetRoundProgress(
                pb.GetRoundProgressRequest(round=r.round), timeout=TIMEOUT_S
            ).labels
            for r in rounds
        )
        task = progress.add_task("exporting labels", total=counted or None)

        def every_row() -> Iterator[LabelRow]:
            for info in rounds:
                yield from _round_rows(stub, info, progress, task)

        written = write_rows(out, file_format, every_row())
        answers = int(progress.tasks[0].completed)
    console.print(f"exported {answers} answers of {len(rounds)} rounds ({written} rows) to {out}")


def _label_message(row: LabelRow) -> pb.StoredLabel:
    return pb.StoredLabel(
        round=row.round,
        pair=pb.Pair(pair_id=row.pair_id, image_a=row.image_a, image_b=row.image_b),
        similar=ANSWERS[row.answer],
        annotator_id=row.annotator,
        idempotency_key=row.key,
        created_at_unix_ms=row.created_at_unix_ms or 0,
        withdrawn_at_unix_ms=row.withdrawn_at_unix_ms or 0,
    )


def _round_request(rows: list[LabelRow]) -> pb.ImportLabelsRequest:
    """The round of ``rows`` with its full pair list (pair ids must be 0, 1, ... n-1)."""
    first = rows[0]
    pairs: dict[int, tuple[str, str]] = {}
    for row in rows:
        pairs.setdefault(row.pair_id, (row.image_a, row.image_b))
    if sorted(pairs) != list(range(len(pairs))):
        raise ValueError(
            f"round {first.round} of the file lacks some of its pairs (pair ids must run "
            f"0..{len(pairs) - 1}); export the round again"
        )
    return pb.ImportLabelsRequest(
        round=pb.RoundInfo(
            round=first.round,
            state=_STATE_CODES[first.round_state],
            opened_at_unix_ms=first.round_opened_at_unix_ms,
            closed_at_unix_ms=first.round_closed_at_unix_ms or 0,
        ),
        pairs=[pb.ImagePair(image_a=pairs[i][0], image_b=pairs[i][1]) for i in sorted(pairs)],
    )


@app.command("import")
def import_labels(
    file: Path = typer.Argument(..., help="a file of `anneal labels export` (CSV or Parquet)"),
    labels: str = LABELS,
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Restore exported answers; rounds missing here are opened. Safe to repeat."""
    console = output_console()
    rows = read_rows(file)
    security = client_credentials(Role.OPERATOR, token, ca, state_dir)
    totals = {"opened": 0, "imported": 0, "unchanged": 0, "withdrawn": 0}
    answers = [row for row in rows if row.has_answer]
    with channel(labels, security) as ch, progress_bar(console, transient=True) as progress:
        stub = labels_pb2_grpc.LabelServiceStub(ch)
        task = progress.add_task("importing labels", total=len(answers) or None)
        for _, grouped in groupby(rows, key=lambda row: row.round):
            round_rows = list(grouped)
            request = _round_request(round_rows)
            round_answers = [row for row in round_rows if row.has_answer]
            for start in range(0, max(len(round_answers), 1), PAGE):
                batch = round_answers[start : start + PAGE]
                request.ClearField("labels")
                request.labels.extend(_label_message(row) for row in batch)
                reply = stub.ImportLabels(request, timeout=TIMEOUT_S)
                request.ClearField("pairs")  # sent once: the round exists from now on
                totals["opened"] += int(reply.round_opened)
                totals["imported"] += reply.imported
                totals["unchanged"] += reply.unchanged
                totals["withdrawn"] += reply.withdrawn
                progress.advance(task, len(batch))
    if totals["opened"] == totals["imported"] == totals["withdrawn"] == 0:
        console.print(f"nothing changed: all {len(answers)} answers of {file} are already stored")
        return
    console.print(
        f"imported {totals['imported']} answers, {totals['withdrawn']} withdrawn now, "
        f"{totals['unchanged']} already stored; {totals['opened']} rounds opened"
    )


@app.command()
def backup(
    labels: str = LABELS,
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Have the label service back up its store into its backup folder (online, verified)."""
    security = client_credentials(Role.OPERATOR, token, ca, state_dir)
    with channel(labels, security) as ch:
        stub = labels_pb2_grpc.LabelServiceStub(ch)
        reply = stub.BackupLabels(pb.BackupLabelsRequest(), timeout=BACKUP_TIMEOUT_S)
    output_console().print(
        f"backup {reply.file_name}: {reply.labels} labels, {reply.bytes} bytes, verified, in "
        f"{reply.seconds:.1f} s ({reply.kept} backups kept)"
    )
