"""The Label Studio bridge's figures (issue 13): seconds from an annotation submitted in Label
Studio to the pair label stored here, by webhook and by pull, and the sync of a 10,000-pair round.

Starts a real Label Studio (``make labelstudio``; as tests/labelstudio/label_studio_server.py
does), a secured label server and a stand-in coordinator (ListRounds) on loopback, and the
bridge built from its settings as ``python -m services.labelstudio`` builds it, its webhook
receiver under uvicorn. An annotator creates annotations through Label Studio's API; the time is
taken from just before that call to the label's commit in the label store (polled every 5 ms).

    PYTHONPATH=$PWD .venv/bin/python bench/labelstudio_sync.py [--pairs 10000] [--samples 20]
        [--poll-s 5]

Prints Markdown rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "labelstudio"))

from label_studio_server import start_label_studio
from round_settings import RoundSettings, serve_round_settings
from studio_actions import annotate, project_titled, result, tasks_by_pair

from services.common.image_links import create_key
from services.labels.records import ImagePair
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.labelstudio.__main__ import build
from services.labelstudio.bridge import Bridge
from services.labelstudio.settings import BridgeSettings
from services.labelstudio.studio import Studio
from services.labelstudio.sync_loop import SyncLoop
from services.labelstudio.webhook_app import create_app
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.security.tokens import create_token

SECRET = "bench-webhook-secret"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(bridge: Bridge, port: int) -> None:
    import uvicorn

    config = uvicorn.Config(create_app(bridge, SECRET), port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)


def _pairs(round_number: int, count: int) -> list[ImagePair]:
    return [
        ImagePair.canonical(f"r{round_number}/{i:05d}a.png", f"r{round_number}/{i:05d}b.png")
        for i in range(count)
    ]


def _seconds_to_store(store: LabelStore, round_number: int, act: Callable[[], object]) -> float:
    before = store.progress(round_number).labels
    started = time.perf_counter()
    act()
    while store.progress(round_number).labels == before:
        time.sleep(0.005)
    return time.perf_counter() - started


def studio_of(bridge: Bridge) -> Studio:
    return bridge.studio


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"| {name} | {len(samples)} | {statistics.median(samples):.3f} | {p95:.3f} | "
        f"{max(samples):.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--poll-s", type=float, default=5.0)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ls-bench-"))
    print(f"scratch {scratch}", flush=True)
    studio = start_label_studio(scratch / "ls")
    local = LocalSecurity.of(scratch / "state")
    local.ensure(["127.0.0.1"])
    (scratch / "bridge.token").write_text(
        create_token(local.tokens_file, "labelstudio", Role.LABELLING_SERVICE)[0]
    )
    (scratch / "ls.token").write_text(studio.admin_token)
    (scratch / "secret").write_text(SECRET)
    create_key(scratch / "link.key")
    store = LabelStore(scratch / "labels.db")
    labels, labels_port = create_server(
        "127.0.0.1:0",
        store,
        security=ServerSecurity(
            tls=local.service_tls("labels"), tokens=TokenVerifier(local.tokens_file)
        ),
    )
    labels.start()
    rounds = RoundSettings()
    _coordinator, coordinator_port = serve_round_settings(rounds, local)
    port = _free_port()
    environ = {
        "ANNEAL_LABEL_STUDIO_URL": studio.url,
        "ANNEAL_LABEL_STUDIO_TOKEN_FILE": str(scratch / "ls.token"),
        "ANNEAL_TOKEN_FILE": str(scratch / "bridge.token"),
        "ANNEAL_TLS_CA": str(local.ca),
        "ANNEAL_LABELS_ADDR": f"127.0.0.1:{labels_port}",
        "ANNEAL_COORDINATOR_ADDR": f"127.0.0.1:{coordinator_port}",
        "ANNEAL_LABELSTUDIO_WEBHOOK_SECRET_FILE": str(scratch / "secret"),
        "ANNEAL_LABELSTUDIO_IMAGE_BASE_URL": "http://127.0.0.1:8080",
        "ANNEAL_IMAGE_LINK_KEY_FILE": str(scratch / "link.key"),
        "ANNEAL_LABELSTUDIO_DB": str(scratch / "bridge.db"),
    }
    alice = studio.person("alice@example.org")
    admin = studio.admin()

    # 1. Webhook path: the bridge's receiver registered in the round's project.
    hooked = build(
        BridgeSettings.read(
            [], {**environ, "ANNEAL_LABELSTUDIO_WEBHOOK_URL": f"http://127.0.0.1:{port}/webhook"}
        )
    )[0]
    _serve(hooked, port)
    store.open_round(1, _pairs(1, args.samples))
    rounds.annotators_per_pair[1] = 1
    hooked.sync()
    tasks = tasks_by_pair(admin, project_titled(admin, "ANNEAL round 1").id)
    webhook = [
        _seconds_to_store(store, 1, lambda t=tasks[i].id: annotate(alice, t, "Similar"))
        for i in range(args.samples)
    ]

    # 2. Pull path: a round whose project has no webhook, the sync loop every --poll-s.
    environ["ANNEAL_LABELSTUDIO_DB"] = str(scratch / "bridge-pull.db")
    environ["ANNEAL_LABELSTUDIO_TITLE_PREFIX"] = "PULL"
    puller = build(BridgeSettings.read([], environ))[0]
    store.open_round(2, _pairs(2, args.samples))
    rounds.annotators_per_pair[2] = 1
    store.close_round(1)
    puller.sync()
    tasks = tasks_by_pair(admin, project_titled(admin, "PULL round 2").id)
    loop = SyncLoop(puller, args.poll_s)
    loop.start()
    pulled = [
        _seconds_to_store(store, 2, lambda t=tasks[i].id: annotate(alice, t, "Dissimilar"))
        for i in range(args.samples)
    ]
    loop.stop()
    store.close_round(2)
    puller.sync()  # finishes round 2's project before round 3 is timed

    # 3. A round of --pairs pairs out: its project and tasks imported by the bridge.
    store.open_round(3, _pairs(3, args.pairs))
    rounds.annotators_per_pair[3] = 1
    started = time.perf_counter()
    puller.sync()
    out_s = time.perf_counter() - started
    out_tasks = len(tasks_by_pair(admin, project_titled(admin, "PULL round 3").id))
    # ... and closed: one last full pull, then every task out of the stream in one call.
    store.close_round(3)
    started = time.perf_counter()
    puller.sync()
    close_s = time.perf_counter() - started

    # 4. A round of --pairs pairs in: its project made here with every task answered (Label
    # Studio imports tasks with their annotations), found by the bridge by its title, so that
    # one pull pass takes all the answers at once.
    pairs = _pairs(4, args.pairs)
    store.open_round(4, pairs)
    rounds.annotators_per_pair[4] = 1
    environ["ANNEAL_LABELSTUDIO_DB"] = str(scratch / "bridge-in.db")
    environ["ANNEAL_LABELSTUDIO_TITLE_PREFIX"] = "IN"
    puller = build(BridgeSettings.read([], environ))[0]  # a bridge that knows no other round
    started = time.perf_counter()
    project = studio_of(puller).create_project("IN round 4", "bench", 1)
    answered = [
        {
            "data": puller.images.task_data(4, i, p.image_a, p.image_b, time.time()),
            "annotations": [{"result": result("Similar")}],
        }
        for i, p in enumerate(pairs)
    ]
    for begin in range(0, len(answered), 1000):
        admin.projects.import_tasks(project, request=answered[begin : begin + 1000])
    annotate_s = time.perf_counter() - started
    started = time.perf_counter()
    report = puller.sync()
    in_s = time.perf_counter() - started
    # Between full pulls a pass lists the tasks changed since the latest change less the
    # margin, until a pass ran a margin after that change was seen (services/labelstudio/
    # pull_cursor.py): every task here changed within seconds of the latest, at its import.
    settle_s = puller.pull_margin.total_seconds() - (time.perf_counter() - started)
    time.sleep(max(0.0, settle_s) + 0.5)
    started = time.perf_counter()
    relist = puller.sync()
    relist_s = time.perf_counter() - started
    started = time.perf_counter()
    again = puller.sync()
    idle_s = time.perf_counter() - started
    one_task = next(iter(tasks_by_pair(admin, project).values())).id
    annotate(alice, one_task, "Dissimilar")
    started = time.perf_counter()
    changed = puller.sync()
    changed_s = time.perf_counter() - started
    row = puller.store.project(4)
    assert row is not None
    started = time.perf_counter()
    full = puller.pull(row, full=True)
    full_s = time.perf_counter() - started
    stored = store.progress(4).labels

    print("\n| path | annotations | p50 s | p95 s | max s |\n|---|---|---|---|---|")
    print(_row("webhook", webhook))
    print(_row(f"pull (every {args.poll_s:g} s)", pulled))
    print(f"\n| {args.pairs:,}-pair round | seconds | per second |\n|---|---|---|")
    print(
        f"| round out: project, {out_tasks:,} tasks imported | {out_s:.1f} | "
        f"{out_tasks / out_s:.0f} tasks/s |"
    )
    print(
        f"| (set-up, not the bridge: {len(pairs):,} answered tasks imported) | "
        f"{annotate_s:.1f} | - |"
    )
    print(
        f"| answers in: one pull pass storing {report.stored:,} labels | {in_s:.1f} | "
        f"{report.stored / in_s:.0f} labels/s |"
    )
    print(f"| round closed: last full pull and every task out of the stream | {close_s:.1f} | - |")
    print(
        f"| the next pass, nothing new: the margin relisted ({relist.listed:,} tasks listed, "
        f"{relist.stored} stored) | {relist_s:.1f} | - |"
    )
    print(
        f"| the pass after, nothing new, settled ({again.listed} tasks listed, "
        f"{again.stored} stored) | {idle_s:.2f} | - |"
    )
    print(
        f"| a pass after one new annotation ({changed.listed} task listed, {changed.stored} "
        f"stored) | {changed_s:.2f} | - |"
    )
    print(
        f"| a pass with nothing new, full ({full.listed:,} tasks listed, {full.stored} stored) | "
        f"{full_s:.1f} | - |"
    )
    print(f"\nlabels stored in round 4: {stored:,}")
    labels.stop(None)
    studio.process.terminate()


if __name__ == "__main__":
    main()
