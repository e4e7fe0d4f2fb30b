"""Starting a whole system and waiting until its archive is indexed (for serve and the demo)."""

from __future__ import annotations

import time
from collections.abc import Callable

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.supervisor import Supervisor, available, log_tail
from services.cli.system_config import ORDER, SystemConfig
from services.security.principal import Role


def start_system(
    config: SystemConfig, say: Callable[[str], None], timeout_s: float = 900.0
) -> Supervisor:
    """Start every available service, wait for health, then for the first index to serve, then
    the web app."""
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
    supervisor = Supervisor(config)
    supervisor.start(names)
    try:
        say(f"started {', '.join(names)}; logs in {supervisor.log_dir}")
        supervisor.wait_serving(timeout_s)
        say("all services report SERVING; indexing the archive (first run: feature extraction)")
        wait_indexed(config, supervisor, timeout_s)
        supervisor.start_web()
        supervisor.wait_serving(timeout_s)
        say(f"web app at {config.web_url}")
    except BaseException:
        supervisor.stop()
        raise
    return supervisor


def wait_indexed(config: SystemConfig, supervisor: Supervisor, timeout_s: float) -> int:
    """Block until the coordinator reports a serving index; its version."""
    deadline = time.monotonic() + timeout_s
    security = config.client(Role.READER)
    with security.channel(config.address("coordinator")) as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        while True:
            dead = supervisor.dead()
            if dead:
                process = supervisor.processes[dead[0]]
                raise RuntimeError(f"the {dead[0]} service exited:\n{log_tail(process.log)}")
            reply = stub.GetStatus(pb.GetStatusRequest(), timeout=10)
            if reply.serving_index_version > 0:
                return int(reply.serving_index_version)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no index after {timeout_s:.0f}s; see {supervisor.log_dir}")
            time.sleep(1.0)
