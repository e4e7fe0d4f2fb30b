"""One head-mode round over a synthetic archive of a million images, by stage (issue 12).

Starts a Milvus server (the PyPI ``milvus`` package, as tests/services/milvus_server.py does)
and the search, labels, selection and retrieval services as their own processes, secured as
``anneal serve`` runs them (services/cli/supervisor.py; the search service builds FLAT below
``--ann-min-rows`` rows and HNSW at or above; retrieval reads the Milvus server directly). The
coordinator's work runs in a process of its own (bench/round_coordinator.py: its workspace,
runner and state handlers over synthetic clustered features of the backbone's dimension, 1280,
memory-mapped; bench/synthetic_archive.py). A simulated annotator answers the round's pairs from
the synthetic classes (services/demo/annotator.py).

Measured: the bootstrap (round-0 PCA model, then embedding and indexing the archive as version
1; not part of the round), Retrieve by id at ``--clients`` clients while idle, then one round by
stage (selection, labelling, training, re-embedding, index build, swap) with the same Retrieve
load during the index build; per stage the peak resident memory of every process and the bytes
TCP carried between them (bench/process_probes.py). After the round: Retrieve p50/p99 by id and
by vector at 1 and ``--clients`` clients, and recall@20 of Retrieve by vector against exact
(numpy) search over the round's embeddings for ``--recall-queries`` stored vectors. Prints
Markdown tables, the targets of issue 12 and whether each is met. ``--no-round`` stops after the
idle queries and measures the same latency and recall on the bootstrap's index (one build, not
two: an HNSW build of a million rows takes minutes on 2 cores).

    PYTHONPATH=$PWD .venv/bin/python bench/round_1m.py [--n 1000000] [--budget 100] [--seed 0]
        [--clusters 21] [--clients 16] [--ann-min-rows 100000] [--work-dir .cache/round-bench]
        [--no-round]

The synthetic features (n x 1280 x 4 bytes: 4.9 GiB at a million) and the archive folder of
empty files are kept in ``--work-dir`` for the next run; everything else is made fresh.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "services"))

from latency_rows import run_row
from milvus_server import start_milvus_server
from process_probes import ProcessProbes
from retrieve_latency import as_service, retrieve_by_id, retrieve_by_vector
from round_coordinator import CoordinatorPlan, serve
from round_report import TOP_K as K
from round_report import Report
from synthetic_archive import synthetic_archive

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.cli.supervisor import Supervisor
from services.cli.system_config import SystemConfig, free_port_base
from services.common.catalog import HEALTH_PORT_OFFSET, INTERNAL_PORT_OFFSET
from services.demo.annotator import SimulatedAnnotator
from services.demo.metrics_scrape import gauge_value
from services.demo.query_load import QueryLoad, retrieval_query
from services.search.build_recall import exact_neighbours
from services.search.index_choice import DEFAULT_ANN_MIN_ROWS
from services.search.settings import (
    ANN_BUILD_PARAMS,
    ANN_MIN_ROWS,
    ANN_SEARCH_PARAMS,
    ANN_TYPE,
    BUILD_STEP_TIMEOUT_S,
)
from services.security.principal import Role

SERVICES = ("search", "labels", "selection", "retrieval")
"""The services a head-mode round and Retrieve by id or vector use (the coordinator's work runs
in the benchmark's own process; the embedding service is on neither path)."""
ROUND_STATES = ("selecting", "collecting", "training", "embedding", "indexing", "swapping")
STAGE_OF = {
    "selecting": "selection",
    "collecting": "labelling (simulated)",
    "training": "training (head)",
    "embedding": "re-embedding",
    "indexing": "index build",
    "swapping": "swap",
}


@dataclass(frozen=True)
class BenchSystem(SystemConfig):
    """A :class:`SystemConfig` whose services also get the benchmark's extra settings."""

    extra: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def environment(self, name: str) -> dict[str, str]:
        return {**super().environment(name), **self.extra.get(name, {})}


class Coordinator:
    """The coordinator process (bench/round_coordinator.py) and its command pipe."""

    def __init__(self, plan: CoordinatorPlan) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self.process = context.Process(target=serve, args=(plan, child), name="coordinator")
        self.process.start()
        self.prepare_s = self._reply("prepare")[0]

    def _reply(self, command: str) -> tuple[float, dict[str, Any]]:
        try:
            result, seconds, details = self._pipe.recv()
        except EOFError:
            self.process.join(10)
            raise SystemExit(
                f"error: the coordinator process exited (code {self.process.exitcode}) during"
                f" its {command}; -9 is a kill, e.g. out of memory"
            ) from None
        if result != "ok":
            raise SystemExit(f"error: the coordinator's {command} failed: {details}")
        return seconds, details

    def call(self, command: str) -> tuple[float, dict[str, Any]]:
        self._pipe.send(command)
        return self._reply(command)

    def send(self, command: str) -> None:
        """Start ``command`` without waiting (the benchmark acts meanwhile, then :meth:`wait`)."""
        self._pipe.send(command)

    def wait(self, command: str) -> tuple[float, dict[str, Any]]:
        """The seconds and details of the command sent last."""
        return self._reply(command)

    def stop(self) -> None:
        if self.process.is_alive():
            self._pipe.send("stop")
            self.process.join(60)
        if self.process.is_alive():
            self.process.kill()


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def listeners(config: SystemConfig, milvus: Any) -> dict[int, str]:
    """Port -> the process listening there (public, internal, health and metrics ports)."""
    ports = {int(milvus.listen_port): "milvus", int(milvus.webservice_port): "milvus"}
    for name in SERVICES:
        port = config.port(name)
        for each in (port, port + INTERNAL_PORT_OFFSET, port + HEALTH_PORT_OFFSET):
            ports[each] = name
        ports[config.metrics_port(name)] = name
    return ports


def wait_answering(query: Any, image_id: str, timeout_s: float = 120.0) -> float:
    """Seconds until Retrieve answers (retrieval sees a new index within its refresh period)."""
    started = time.monotonic()
    while True:
        try:
            query(image_id, K)
            return time.monotonic() - started
        except grpc.RpcError as exc:
            if time.monotonic() - started > timeout_s:
                raise SystemExit(
                    f"error: Retrieve still fails after {timeout_s:.0f}s: {exc.details()}"
                ) from None
            time.sleep(0.2)


def idle_load(query: Any, ids: list[str], clients: int, seconds: float) -> QueryLoad:
    load = QueryLoad(query, ids, k=K, clients=clients)
    load.start()
    time.sleep(seconds)
    load.stop()
    return load


def recall_at_k(
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
    ids: list[str],
    embeddings: np.ndarray,
    queries: int,
    seed: int,
) -> float:
    """Mean fraction of the exact top-k (numpy, inner product) that Retrieve by vector returns."""
    rows = np.sort(np.random.default_rng([seed, 2]).choice(len(ids), queries, replace=False))
    probes = np.asarray(embeddings[rows], dtype=np.float32)
    exact = exact_neighbours(embeddings, probes, K, "IP")
    found = 0
    for probe, truth in zip(probes, exact, strict=True):
        query = retrieval_pb2.Query(vector=retrieval_pb2.Vector(values=probe.tolist()))
        reply = retrieval.Retrieve(retrieval_pb2.RetrieveRequest(query=query, k=K), timeout=30)
        found += len({ids[int(r)] for r in truth} & {hit.image_id for hit in reply.hits})
    return found / (K * queries)


def search_settings(args: argparse.Namespace) -> dict[str, str]:
    """``--ann-type`` from ``--ann-min-rows``, with the build and search parameters asked (else
    the service's defaults), and Milvus calls of a build allowed ``--build-step-timeout-s``."""
    settings = {
        ANN_TYPE.env: args.ann_type,
        ANN_MIN_ROWS.env: str(args.ann_min_rows),
        BUILD_STEP_TIMEOUT_S.env: str(args.build_step_timeout_s),
    }
    if args.ann_search_params:
        settings[ANN_SEARCH_PARAMS.env] = args.ann_search_params
    if args.ann_build_params:
        settings[ANN_BUILD_PARAMS.env] = args.ann_build_params
    return settings


def bench(args: argparse.Namespace, scratch: Path) -> Report:
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    synthetic = synthetic_archive(work, args.n, args.clusters, args.seed, say)
    ids, archive_folder = synthetic.ids, synthetic.folder
    del synthetic
    with contextlib.redirect_stdout(sys.stderr):  # its progress line is not the report's
        milvus, uri = start_milvus_server(_made(scratch / "milvus"))
    config = BenchSystem(
        archive=archive_folder,
        state_dir=scratch / "state",
        milvus_uri=uri,
        grpc_port_base=free_port_base(57051),
        metrics_port_base=free_port_base(9501, offsets=(0,), count=7),
        log_level="WARNING",
        extra={"search": search_settings(args)},
    )
    config.security.ensure([config.host])
    config.security.record_mode(False)
    supervisor = Supervisor(config, say=say)
    coordinator: Coordinator | None = None
    try:
        supervisor.start(SERVICES)
        supervisor.wait_serving(600)
        say(f"services serving: {', '.join(SERVICES)}; Milvus at {uri}")
        plan = CoordinatorPlan(
            work=work,
            scratch=_made(scratch / "coordinator"),
            n=args.n,
            clusters=args.clusters,
            seed=args.seed,
            state_dir=config.state_dir,
            selection_addr=config.internal_address("selection"),
            labels_addr=config.internal_address("labels"),
            search_addr=config.internal_address("search"),
            dim=args.dim,
            strategy=args.strategy,
            budget=args.budget,
            evaluate=args.evaluate,
        )
        coordinator = Coordinator(plan)
        say(f"coordinator ready in {coordinator.prepare_s:.1f}s (workspace of {args.n:,} images)")
        processes = {
            "bench (clients, annotator)": os.getpid(),
            "coordinator": int(coordinator.process.pid or 0),
            "milvus": int(milvus.server_proc.pid),
            **{name: supervisor.pid(name) for name in SERVICES},
        }
        report = Report(args, processes, coordinator.prepare_s, os.getloadavg()[0])
        with (
            config.client(Role.READER).channel(config.address("retrieval")) as reader,
            config.client(Role.ANNOTATOR).channel(config.address("selection")) as selection,
            config.client(Role.ANNOTATOR).channel(config.address("labels")) as labels,
            as_service(config, "coordinator").channel(config.internal_address("search")) as owner,
            ProcessProbes(processes, listeners(config, milvus)) as probes,
        ):
            query = retrieval_query(reader)
            metrics = f"http://127.0.0.1:{config.metrics_port('search')}/metrics"
            run_stages(args, coordinator, probes, report, query, ids, selection, labels, metrics)
            search = search_pb2_grpc.SearchServiceStub(owner)
            info = search.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=10)
            report.index = f"v{info.version}, {info.count:,} x {info.dim}, {info.index_type}"
            report.build_recall = gauge_value(metrics, "anneal_index_build_recall", {})
            after_round(args, report, retrieval_pb2_grpc.RetrievalServiceStub(reader), ids)
        report.load_after = os.getloadavg()[0]
        return report
    finally:
        if coordinator is not None:
            coordinator.stop()
        supervisor.stop()
        milvus.stop()


def run_stages(
    args: argparse.Namespace,
    coordinator: Coordinator,
    probes: ProcessProbes,
    report: Report,
    query: Any,
    ids: list[str],
    selection: Any,
    labels: Any,
    metrics: str,
) -> None:
    """Bootstrap, idle queries, then (unless ``--no-round``) the round's states one by one, each
    a probed stage; ``metrics`` is the search service's page (its bootstrap build time)."""
    for command, name in (("round0", "round-0 model (PCA)"), ("bootstrap", "index version 1")):
        probes.begin(f"bootstrap: {name}")
        seconds, report.details[command] = coordinator.call(command)
        report.bootstrap.append(probes.end())
        say(f"bootstrap: {name} in {seconds:.1f}s")
    report.bootstrap_build_s = gauge_value(metrics, "anneal_index_rebuild_seconds_sum", {})
    say(f"Retrieve answers after {wait_answering(query, ids[0]):.1f}s")
    probes.begin("idle queries")
    idle = idle_load(query, ids, args.clients, args.idle_seconds)
    report.idle, report.errors["idle"] = idle.stats(), idle.first_errors()
    report.idle_stage = probes.end()
    say(f"idle Retrieve by id at {args.clients} clients: p99 {report.idle.p99_ms:.1f} ms")
    if args.no_round:
        return
    annotator = SimulatedAnnotator(selection, labels, name="bench")
    for state in ROUND_STATES:
        probes.begin(STAGE_OF[state])
        load = None
        if state == "indexing":
            load = QueryLoad(query, ids, k=K, clients=args.clients)
            load.start()
        coordinator.send("step")
        if state == "collecting":
            answered = annotator.answer_round(1)
            say(f"annotator answered {answered} pairs")
        seconds, details = coordinator.wait(state)
        if load is not None:
            load.stop()
            report.rebuild, report.errors["rebuild"] = load.stats(), load.first_errors()
        stage = probes.end()
        report.stages.append(stage)
        report.details[state] = details
        say(f"{STAGE_OF[state]}: {seconds:.1f}s -> {details['next']}")


def after_round(
    args: argparse.Namespace,
    report: Report,
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
    ids: list[str],
) -> None:
    """Latency at 1 and N clients by id and by vector, and recall@20 against exact search (over
    the round's embeddings, or the bootstrap's with ``--no-round``)."""
    serving = report.details.get("embedding", report.details["bootstrap"])
    embeddings = np.load(serving["embeddings"], mmap_mode="r")
    sample = np.random.default_rng([args.seed, 3]).choice(len(ids), 2000, replace=False)
    rows = [
        ("by id", retrieve_by_id(retrieval, ids, K)),
        ("by vector", retrieve_by_vector(retrieval, np.asarray(embeddings[sample]), K)),
    ]
    for name, query in rows:
        for clients in (1, args.clients):
            per_client = max(1, args.queries // clients)
            stats = run_row(query, K, clients, per_client, len(ids) if name == "by id" else 2000)
            report.latency.append((name, clients, stats))
            say(f"Retrieve {name}, {clients} clients: p99 {stats.p99_ms:.1f} ms")
    started = time.perf_counter()
    report.recall = recall_at_k(retrieval, ids, embeddings, args.recall_queries, args.seed)
    say(f"recall@{K}: {report.recall:.3f} ({time.perf_counter() - started:.0f}s)")


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="archive images")
    parser.add_argument("--budget", type=int, default=100, help="pairs the round asks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clusters", type=int, default=21, help="classes of the archive")
    parser.add_argument("--clients", type=int, default=16, help="Retrieve clients")
    parser.add_argument("--strategy", default="mgue")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension (PCA head)")
    parser.add_argument(
        "--ann-min-rows",
        type=int,
        default=DEFAULT_ANN_MIN_ROWS,
        help="rows from which the search service builds --ann-type instead of FLAT",
    )
    parser.add_argument("--ann-type", default="HNSW", help="HNSW, IVF_FLAT or IVF_SQ8")
    parser.add_argument(
        "--build-step-timeout-s",
        type=int,
        default=1800,
        help="longest Milvus call of an index build (a million rows take minutes)",
    )
    parser.add_argument(
        "--ann-search-params",
        default="",
        help='JSON ANN search params, e.g. {"ef": 128} (default: the service\'s, {"ef": 64})',
    )
    parser.add_argument(
        "--ann-build-params",
        default="",
        help='JSON ANN build params (default: the service\'s, {"M": 16, "efConstruction": 200})',
    )
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--queries", type=int, default=400, help="per latency row")
    parser.add_argument("--recall-queries", type=int, default=200)
    parser.add_argument("--evaluate", action="store_true", help="the coordinator's mAP too")
    parser.add_argument(
        "--no-round",
        action="store_true",
        help="after the bootstrap and idle queries, measure Retrieve on the bootstrap's index",
    )
    parser.add_argument("--work-dir", type=Path, default=Path(".cache/round-bench"))
    args = parser.parse_args()
    if args.n < 2 * args.clusters or args.recall_queries > args.n:
        parser.error("--n must exceed twice --clusters and --recall-queries")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="round-", dir=args.work_dir.resolve()) as scratch:
        report = bench(args, Path(scratch))
    print(report.markdown(" ".join([Path(sys.executable).name, *sys.argv])))


if __name__ == "__main__":
    main()
