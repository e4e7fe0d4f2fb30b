"""Starting a whole system and waiting until it can answer every query (for serve and the demo).

Ready means: every service SERVING, an index serving, and the model that made that index loaded
in the embedding service (a query by image needs it; after a restart with existing state the
coordinator loads it a few seconds after the index is already there).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from rich.console import Console

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.cli.extraction_bar import ExtractionBar
from services.cli.restart_policy import RestartPolicy
from services.cli.supervisor import Supervisor, available, log_tail
from services.cli.system_config import ORDER, SystemConfig
from services.security.principal import Role


def start_system(
    config: SystemConfig,
    say: Callable[[str], None],
    timeout_s: float = 900.0,
    restart_policy: RestartPolicy | None = None,
    console: Console | None = None,
) -> Supervisor:
    """Start every available service, wait for health, then for an index to serve and its model
    to be loaded, then the web app; from then on the supervisor restarts a service that dies.
    With a ``console`` a bar shows the coordinator's feature extraction while it runs."""
    names = available()
    missing = [n for n in ORDER if n not in names]
    if missing:
        say(f"[yellow]not installed, not started: {', '.join(missing)}[/yellow]")
    local = config.security
    if config.insecure:
        say(
            "[bold red]INSECURE: no TLS and no access control; anyone who reaches the ports "
            "may call anything (debugging only)[/bold red]"
        )
    else:
        for made in local.ensure([config.host]):
            say(f"created {made}")
        say(f"TLS and tokens on; CA, certificates and tokens in {local.folder} (mode 0600)")
    local.record_mode(config.insecure)
    supervisor = Supervisor(config, restart_policy, say)
    supervisor.start(names)
    try:
        say(f"started {', '.join(names)}; logs in {supervisor.log_dir}")
        supervisor.wait_serving(timeout_s)
        say("all services report SERVING; indexing the archive (first run: feature extraction)")
        if console is None:
            model_version = wait_indexed(config, supervisor, timeout_s)
        else:
            with ExtractionBar(console) as bar:
                model_version = wait_indexed(config, supervisor, timeout_s, bar.show)
        if "embedding" in names:
            wait_model_loaded(config, supervisor, model_version, timeout_s)
        supervisor.start_web()
        supervisor.wait_serving(timeout_s)
        say(f"web app at {config.web_url}")
        supervisor.keep_alive()
    except BaseException:
        supervisor.stop()
        raise
    return supervisor


def _fail_if_dead(supervisor: Supervisor) -> None:
    dead = supervisor.dead()
    if dead:
        process = supervisor.processes[dead[0]]
        raise RuntimeError(f"the {dead[0]} service exited:\n{log_tail(process.log)}")


def wait_indexed(
    config: SystemConfig,
    supervisor: Supervisor,
    timeout_s: float,
    extraction: Callable[[pb.ExtractionProgress], None] | None = None,
) -> str:
    """Block until the coordinator reports a serving index; the model version it serves.
    ``extraction`` is given the feature extraction's progress of each reply that has it."""
    deadline = time.monotonic() + timeout_s
    security = config.client(Role.READER)
    with security.channel(config.address("coordinator")) as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        while True:
            _fail_if_dead(supervisor)
            try:
                reply = stub.GetStatus(pb.GetStatusRequest(), timeout=10)
            except grpc.RpcError:
                reply = None  # dead (said above on the next pass) or not answering yet
            if reply is not None and extraction is not None and reply.HasField("extraction"):
                extraction(reply.extraction)
            if reply is not None and reply.serving_index_version > 0:
                return str(reply.serving_model_version)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no index after {timeout_s:.0f}s; see {supervisor.log_dir}")
            time.sleep(1.0)


def wait_model_loaded(
    config: SystemConfig, supervisor: Supervisor, model_version: str, timeout_s: float
) -> None:
    """Block until the embedding service holds ``model_version`` (the serving index's model)."""
    deadline = time.monotonic() + timeout_s
    security = config.client(Role.READER)
    with security.channel(config.address("embedding")) as channel:
        stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        while True:
            _fail_if_dead(supervisor)
            try:
                reply = stub.GetModelInfo(embedding_pb2.GetModelInfoRequest(), timeout=10)
            except grpc.RpcError:
                reply = None
            if reply is not None and model_version in {m.model_version for m in reply.models}:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"model {model_version} not loaded after {timeout_s:.0f}s;"
                    f" see {supervisor.log_dir}"
                )
            time.sleep(0.2)
