"""Reliability of the label store: a damaged file is refused at start, a store that cannot commit
answers UNAVAILABLE and keeps nothing of the call, and an online backup taken while labels are
written holds every label acknowledged before it began and passes SQLite's integrity check."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.common.metrics import GRPC_COLLECTORS, metrics_registry
from services.labels.backup import LabelBackup, backups
from services.labels.metrics import COLLECTORS as LABELS_COLLECTORS
from services.labels.records import ImagePair, LabelSubmission
from services.labels.schema import DamagedStoreError, check_integrity
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.server_security import ServerSecurity

REPO = Path(__file__).resolve().parents[2]
INSECURE = ServerSecurity.insecure()
PAIRS = 300


def filled_store(path: Path, labels: int = PAIRS, **options: float) -> LabelStore:
    """A store with round 1 of PAIRS pairs and ``labels`` answers (annotator ann<n // PAIRS>)."""
    store = LabelStore(path, **options)
    store.open_round(1, [ImagePair(f"a{i:05d}", f"b{i:05d}") for i in range(PAIRS)])
    for start in range(0, labels, 1000):
        store.submit(
            [
                LabelSubmission(1, n % PAIRS, None, n % 2 == 0, f"ann{n // PAIRS}", f"k{n}")
                for n in range(start, min(start + 1000, labels))
            ]
        )
    return store


def corrupt(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xde\xad\xbe\xef" * 1024)


# -- 3: a damaged store is refused ------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "detail"),
    [(0, "file is not a database"), (3 * 4096, "quick_check: .*Page 4")],
)
def test_a_damaged_store_is_refused(tmp_path: Path, offset: int, detail: str) -> None:
    db = tmp_path / "labels.db"
    filled_store(db).close()
    corrupt(db, offset)
    with pytest.raises(DamagedStoreError, match=detail):
        LabelStore(db)


def test_a_store_missing_its_labels_table_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "labels.db"
    filled_store(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("DROP TABLE labels")
    with pytest.raises(DamagedStoreError, match="table 'labels' is missing"):
        LabelStore(db)


def test_a_locked_store_is_not_called_damaged(tmp_path: Path) -> None:
    db = tmp_path / "labels.db"
    other = sqlite3.connect(db, isolation_level=None)  # a rollback-journal file, locked whole
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            LabelStore(db, busy_timeout_s=0.1)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_the_service_exits_with_one_line_on_a_damaged_store(tmp_path: Path) -> None:
    db = tmp_path / "labels.db"
    filled_store(db).close()
    corrupt(db, 3 * 4096)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNEAL_")}
    env |= {"ANNEAL_LABEL_DB": str(db), "ANNEAL_INSECURE": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "services.labels", "--port", "0", "--metrics-port", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.fullmatch(
        rf"label store {re.escape(str(db))} is damaged \(quick_check: .+\): restore it from a "
        r"backup \(see docs/deploy.md\)\n",
        done.stderr,
    ), done.stderr


# -- 4: a store that cannot commit acknowledges nothing ---------------------------------------


LABELS_REGISTRY = metrics_registry((*GRPC_COLLECTORS, *LABELS_COLLECTORS))


def refused_submits() -> float:
    labels = {
        "grpc_service": "anneal.labels.v1.LabelService",
        "grpc_method": "SubmitLabels",
        "grpc_code": "UNAVAILABLE",
    }
    return LABELS_REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def write_errors() -> float:
    return LABELS_REGISTRY.get_sample_value("anneal_label_store_write_errors_total") or 0.0


def test_a_locked_store_answers_unavailable_and_stores_nothing(tmp_path: Path, serve) -> None:
    db = tmp_path / "labels.db"
    store = filled_store(db, labels=0, busy_timeout_s=0.2)
    stub = labels_pb2_grpc.LabelServiceStub(
        serve(create_server("127.0.0.1:0", store, security=INSECURE))
    )
    batch = pb.SubmitLabelsRequest(
        labels=[
            pb.Label(round=1, pair_id=i, similar=True, annotator_id="ann", idempotency_key=f"x{i}")
            for i in range(5)
        ]
    )
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the file: no commit is possible
    errors, refused = write_errors(), refused_submits()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitLabels(batch, timeout=10)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "could not commit" in caught.value.details()
    assert "retry with the same keys" in caught.value.details()
    attempts = refused_submits() - refused  # the channel's retry policy repeats UNAVAILABLE calls
    assert attempts >= 1
    assert write_errors() == errors + attempts  # one failed commit per attempt, nothing else
    assert stub.ListLabels(pb.ListLabelsRequest(round=1)).labels == []
    retried = stub.SubmitLabels(batch, timeout=10)  # the lock is gone: the same keys go in
    assert [r.outcome for r in retried.results] == [pb.SUBMIT_OUTCOME_ACCEPTED] * 5


def test_a_full_disk_mid_batch_stores_nothing_of_the_batch(tmp_path: Path) -> None:
    store = filled_store(tmp_path / "labels.db", labels=10)
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()  # simulate a disk that is full
    store._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    big = [LabelSubmission(1, n, None, True, "full", f"{n:04d}" + "k" * 190) for n in range(PAIRS)]
    with pytest.raises(ConnectionError, match=r"could not commit \(database or disk is full\)"):
        store.submit(big)
    assert len(store.labels(1)) == 10  # the batch's first labels, which fitted, are gone too
    store.close()


# -- 2 and 5: online backup -------------------------------------------------------------------


def test_backup_rpc_writes_a_verified_copy_and_keeps_the_newest(tmp_path: Path, serve) -> None:
    store = filled_store(tmp_path / "labels.db", labels=40)
    backup = LabelBackup(store.path, tmp_path / "backups", keep=2)
    stub = labels_pb2_grpc.LabelServiceStub(
        serve(create_server("127.0.0.1:0", store, security=INSECURE, backup=backup))
    )
    replies = [stub.BackupLabels(pb.BackupLabelsRequest(), timeout=30) for _ in range(3)]
    for reply in replies:
        assert re.fullmatch(r"labels-\d{8}T\d{6}\.\d{3}Z\.sqlite", reply.file_name)
        assert reply.labels == 40
    names = [path.name for path in backups(tmp_path / "backups")]
    assert names == [replies[1].file_name, replies[2].file_name]  # the oldest was pruned
    assert replies[2].kept == 2
    newest = tmp_path / "backups" / replies[2].file_name
    assert newest.stat().st_size == replies[2].bytes
    assert sorted(os.listdir(tmp_path / "backups")) == names  # no -wal, -shm or .partial left
    restored = LabelStore(newest)  # opens: passes the integrity check
    assert [label.idempotency_key for label in restored.labels(1)] == [
        label.idempotency_key for label in store.labels(1)
    ]
    restored.close()


def test_backup_without_a_folder_is_failed_precondition(tmp_path: Path, serve) -> None:
    store = LabelStore(tmp_path / "labels.db")
    stub = labels_pb2_grpc.LabelServiceStub(
        serve(create_server("127.0.0.1:0", store, security=INSECURE))
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.BackupLabels(pb.BackupLabelsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ANNEAL_LABELS_BACKUP_DIR" in caught.value.details()


def submit_while(stub: labels_pb2_grpc.LabelServiceStub, acked: list[str], stop: threading.Event):
    """Submits 10 labels per call (annotator w<n>) until ``stop``, keeping the acked keys."""
    n = 0
    while not stop.is_set():
        keys = [f"w{n + i}" for i in range(10)]
        labels = [
            pb.Label(
                round=1,
                pair_id=(n + i) % PAIRS,
                annotator_id=f"w{(n + i) // PAIRS}",
                similar=True,
                idempotency_key=key,
            )
            for i, key in enumerate(keys)
        ]
        stub.SubmitLabels(pb.SubmitLabelsRequest(labels=labels), timeout=10)
        acked.extend(keys)
        n += 10


def test_a_backup_taken_during_writes_holds_every_label_acked_before(tmp_path: Path, serve) -> None:
    store = filled_store(tmp_path / "labels.db", labels=30_000)
    backup = LabelBackup(store.path, tmp_path / "backups")
    stub = labels_pb2_grpc.LabelServiceStub(
        serve(create_server("127.0.0.1:0", store, security=INSECURE, backup=backup))
    )
    acked: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=submit_while, args=(stub, acked, stop))
    writer.start()
    try:
        while len(acked) < 200:
            time.sleep(0.01)
        before = list(acked)  # acknowledged before the backup began
        reply = stub.BackupLabels(pb.BackupLabelsRequest(), timeout=60)
        deadline = time.monotonic() + 30
        while len(acked) < len(before) + 200 and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer goes on after the backup too
    finally:
        stop.set()
        writer.join(timeout=30)
    copy = tmp_path / "backups" / reply.file_name
    with sqlite3.connect(copy) as raw:
        check_integrity(raw, full=True)
        keys = {row[0] for row in raw.execute("SELECT idempotency_key FROM labels")}
    assert reply.labels == len(keys) >= 30_000 + len(before)
    assert set(before) <= keys
    assert {f"k{n}" for n in range(30_000)} <= keys
    assert len(acked) >= len(before) + 200  # writes went on through and after the backup
    restored = tmp_path / "restored.db"  # the restore drill of docs/deploy.md
    shutil.copy(copy, restored)
    reopened = LabelStore(restored)
    assert len(reopened.labels(1, limit=100_000)) == len(keys)
    reopened.close()
