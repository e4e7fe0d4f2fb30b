"""Online backup of a label store of 1,000,000 labels: how long it takes, and what it costs the
label writes going on meanwhile.

Builds the store fast (the schema through LabelStore, then one SQL transaction of 10 closed
rounds x 100,000 pairs x 1 answer), opens it as the service does (timing the integrity check at
start), serves it on loopback (insecure, in this process) and keeps one writer submitting labels
(``--batch`` per SubmitLabels call) to an open round. It measures the writer's acknowledged
labels/s for ``--seconds`` without a backup, then during each of ``--repeats`` BackupLabels calls,
and prints the backup's seconds and size and both throughputs (medians). Before serving, it also
times the backup's two steps (copy; check of the copy) alone.

    .venv/bin/python bench/label_backup.py [--labels 1000000] [--repeats 3] [--batch 10]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import grpc

from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from services.labels.backup import LabelBackup
from services.labels.records import ImagePair
from services.labels.server import create_server
from services.labels.store import MAX_PAIRS_PER_ROUND, LabelStore
from services.security.server_security import ServerSecurity

WRITER_ROUND = 1_000


def build(path: Path, labels: int) -> None:
    """``labels`` answers in closed rounds of 100,000 pairs, one answer per pair, straight SQL."""
    LabelStore(path).close()  # the schema
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN")
    rounds = -(-labels // MAX_PAIRS_PER_ROUND)
    for r in range(1, rounds + 1):
        n = min(MAX_PAIRS_PER_ROUND, labels - (r - 1) * MAX_PAIRS_PER_ROUND)
        db.execute(
            "INSERT INTO rounds (round, state, opened_at_ms, closed_at_ms) "
            "VALUES (?, 'closed', 0, 1)",
            (r,),
        )
        db.executemany(
            "INSERT INTO pairs (round, pair_id, image_a, image_b) VALUES (?, ?, ?, ?)",
            ((r, i, f"archive/img{i:06d}.tif", f"archive/img{i + 1:06d}.tif") for i in range(n)),
        )
        db.executemany(
            "INSERT INTO labels (round, pair_id, similar, annotator_id, idempotency_key, "
            "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            ((r, i, i % 2, f"annotator{i % 7}", f"bench:r{r}:{i}", 1) for i in range(n)),
        )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


class Writer:
    """Submits ``batch`` labels per call to the writer round, counting acknowledged labels."""

    def __init__(self, stub: labels_pb2_grpc.LabelServiceStub, batch: int) -> None:
        self._stub = stub
        self._batch = batch
        self.acked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            labels = [
                pb.Label(
                    round=WRITER_ROUND,
                    pair_id=(n + i) % MAX_PAIRS_PER_ROUND,
                    similar=True,
                    annotator_id=f"writer{(n + i) // MAX_PAIRS_PER_ROUND}",
                    idempotency_key=f"writer:{n + i}",
                )
                for i in range(self._batch)
            ]
            self._stub.SubmitLabels(pb.SubmitLabelsRequest(labels=labels), timeout=60)
            self.acked += self._batch
            n += self._batch

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rate(writer: Writer, seconds: float) -> float:
    before, start = writer.acked, time.monotonic()
    time.sleep(seconds)
    return (writer.acked - before) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0, help="baseline window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "labels.db"
        started = time.monotonic()
        build(db, args.labels)
        print(
            f"built {args.labels} labels in {time.monotonic() - started:.1f} s, "
            f"{db.stat().st_size / 1e6:.0f} MB"
        )
        phases = LabelBackup(db, Path(folder) / "phases")  # its two steps apart, no writer
        started = time.monotonic()
        copied = phases._copy(Path(folder) / "phases.sqlite")
        middle = time.monotonic()
        phases._verify(Path(folder) / "phases.sqlite", copied)
        print(
            f"backup steps without a writer: copy {middle - started:.2f} s, "
            f"integrity_check and count {time.monotonic() - middle:.2f} s"
        )
        (Path(folder) / "phases.sqlite").unlink()
        started = time.monotonic()
        store = LabelStore(db)
        print(f"open with quick_check: {time.monotonic() - started:.2f} s")
        store.open_round(  # the writer's round, open, with pairs of its own
            WRITER_ROUND,
            [ImagePair(f"w{i:06d}", f"x{i:06d}") for i in range(MAX_PAIRS_PER_ROUND)],
        )
        backup = LabelBackup(store.path, Path(folder) / "backups", keep=2)
        server, port = create_server(
            "127.0.0.1:0", store, security=ServerSecurity.insecure(), backup=backup
        )
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = labels_pb2_grpc.LabelServiceStub(channel)
        seconds, sizes, during, without = [], [], [], []
        with Writer(stub, args.batch) as writer:
            time.sleep(1.0)  # warm up
            for _ in range(args.repeats):
                without.append(rate(writer, args.seconds))
                before, start = writer.acked, time.monotonic()
                reply = stub.BackupLabels(pb.BackupLabelsRequest(), timeout=600)
                elapsed = time.monotonic() - start
                during.append((writer.acked - before) / elapsed)
                seconds.append(reply.seconds)
                sizes.append(reply.bytes)
                print(
                    f"backup {reply.file_name}: {reply.labels} labels, "
                    f"{reply.bytes / 1e6:.0f} MB, {reply.seconds:.2f} s; writes during "
                    f"{during[-1]:.0f}/s, before {without[-1]:.0f}/s"
                )
        channel.close()
        server.stop(None).wait()
        store.close()
    print(
        f"median: backup {statistics.median(seconds):.2f} s for {args.labels}+ labels "
        f"({statistics.median(sizes) / 1e6:.0f} MB); acknowledged writes "
        f"{statistics.median(without):.0f} labels/s without a backup, "
        f"{statistics.median(during):.0f} labels/s during one (batches of {args.batch})"
    )


if __name__ == "__main__":
    main()
