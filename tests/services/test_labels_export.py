"""``anneal labels export`` / ``import`` against real label servers (TLS + operator token): an
export restores into an empty store with every round, pair, answer, annotator, time and
withdrawal; a second import changes nothing and says so; a key with another answer is refused."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.cli.main import main
from services.labels.backup import LabelBackup, backups
from services.labels.records import ImagePair, LabelSubmission, Withdrawal
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1000
        return self.now


def source_store(path: Path) -> LabelStore:
    """Round 1 (closed): 3 pairs, alice and bob disagree on pair 0, alice withdrew her answer
    to pair 1 and answered it again, pair 2 has no answer; round 2 (open): 2 pairs, one answer."""
    store = LabelStore(path, clock_ms=Clock())
    store.open_round(1, [ImagePair("a", "b"), ImagePair("c", "d"), ImagePair("e", "f")])

    def answer(pair_id: int, similar: bool, who: str, key: str, round_number: int = 1) -> None:
        store.submit([LabelSubmission(round_number, pair_id, None, similar, who, key)])

    answer(0, True, "alice", "alice:0")
    answer(0, False, "bob", "bob:0")
    answer(1, True, "alice", "alice:1")
    store.withdraw(Withdrawal(1, "alice:1", "alice"))
    answer(1, False, "alice", "alice:1b")
    store.close_round(1)
    store.open_round(2, [ImagePair("a", "c"), ImagePair("b", "d")])
    answer(1, True, "bob", "bob:2", round_number=2)
    return store


@pytest.fixture
def local(tmp_path: Path) -> LocalSecurity:
    security = LocalSecurity.of(tmp_path / "state")
    security.ensure(["127.0.0.1"])
    return security


def start(
    serve, local: LocalSecurity, store: LabelStore, backup: LabelBackup | None = None
) -> tuple[str, object]:
    security = ServerSecurity(
        tls=local.service_tls("labels"), tokens=TokenVerifier(local.tokens_file)
    )
    built = create_server("127.0.0.1:0", store, security=security, backup=backup)
    stub = labels_pb2_grpc.LabelServiceStub(serve(built, local.client(Role.OPERATOR)))
    return f"127.0.0.1:{built[1]}", stub


def everything(stub) -> list[object]:
    """Rounds, pairs and labels (withdrawn ones too) as the service lists them."""
    rounds = stub.ListRounds(pb.ListRoundsRequest(), timeout=10).rounds
    out: list[object] = [
        (r.round, r.state, r.opened_at_unix_ms, r.closed_at_unix_ms, r.pairs) for r in rounds
    ]
    for r in rounds:
        pairs = stub.ListPairs(pb.ListPairsRequest(round=r.round), timeout=10).pairs
        out.append([(p.pair_id, p.image_a, p.image_b) for p in pairs])
        labels = stub.ListLabels(
            pb.ListLabelsRequest(round=r.round, include_withdrawn=True), timeout=10
        ).labels
        out.append(
            [
                (
                    label.round,
                    label.pair.pair_id,
                    label.similar,
                    label.annotator_id,
                    label.idempotency_key,
                    label.created_at_unix_ms,
                    label.withdrawn_at_unix_ms,
                )
                for label in labels
            ]
        )
    return out


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_export_restores_into_an_empty_store_and_a_second_import_changes_nothing(
    tmp_path: Path, serve, local: LocalSecurity, capsys, file_format: str
) -> None:
    state = ["--state-dir", str(local.folder.parent)]
    source, source_stub = start(serve, local, source_store(tmp_path / "source.db"))
    out = tmp_path / f"labels.{file_format}"
    argv = ["labels", "export", "--format", file_format, "--out", str(out), "--labels", source]
    assert main([*argv, *state]) == 0
    assert "exported 5 answers of 2 rounds (7 rows)" in capsys.readouterr().out

    target, target_stub = start(serve, local, LabelStore(tmp_path / "empty.db"))
    assert main(["labels", "import", str(out), "--labels", target, *state]) == 0
    assert "imported 5 answers, 0 withdrawn now, 0 already stored; 2 rounds opened" in (
        capsys.readouterr().out
    )
    assert everything(target_stub) == everything(source_stub)
    resolved = target_stub.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1), timeout=10)
    assert [(r.pair.pair_id, r.similar) for r in resolved.labels] == [(0, True), (1, False)]

    assert main(["labels", "import", str(out), "--labels", target, *state]) == 0
    assert "nothing changed: all 5 answers" in capsys.readouterr().out
    assert everything(target_stub) == everything(source_stub)


def test_a_key_stored_with_another_answer_is_refused_with_one_line(
    tmp_path: Path, serve, local: LocalSecurity, capsys
) -> None:
    state = ["--state-dir", str(local.folder.parent)]
    source, _ = start(serve, local, source_store(tmp_path / "source.db"))
    out = tmp_path / "labels.csv"
    assert main(["labels", "export", "--out", str(out), "--labels", source, *state]) == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    bob = next(row for row in rows if row["key"] == "bob:0")
    bob["answer"] = "similar"  # was dissimilar
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    code = main(["labels", "import", str(out), "--labels", source, *state])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(
        "anneal: ALREADY_EXISTS: label 1 (key 'bob:0'): the key is already "
        "stored with a different answer (round 1, a vs b, dissimilar, by 'bob')"
    )


def test_a_file_that_is_not_an_export_is_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "answers.csv"
    bad.write_text("pair_id,similar\n0,1\n")
    assert main(["labels", "import", str(bad), "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"anneal: {bad}: not a label export (no column 'round')\n"


def test_backup_command_reports_the_verified_file(
    tmp_path: Path, serve, local: LocalSecurity, capsys
) -> None:
    store = source_store(tmp_path / "source.db")
    folder = tmp_path / "backups"
    address, _ = start(serve, local, store, LabelBackup(store.path, folder))
    argv = ["labels", "backup", "--labels", address, "--state-dir", str(local.folder.parent)]
    assert main(argv) == 0
    (made,) = backups(folder)
    out = capsys.readouterr().out
    assert out.startswith(f"backup {made.name}: 5 labels, {made.stat().st_size} bytes, verified")
    assert main(["labels", "backup", "--labels", address, "--state-dir", str(tmp_path)]) == 1
    assert "no token" in capsys.readouterr().err  # an operator's token is needed
