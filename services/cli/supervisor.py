"""Runs the six services as child processes (``python -m services.<name>``) and stops them.

Each child's log goes to ``<state>/logs/<name>.log``; :meth:`Supervisor.wait_serving` waits for
its grpc.health.v1 status to be SERVING and fails with the log's tail if it exits first.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services.cli.system_config import ORDER, SystemConfig
from services.common.catalog import SERVICES
from services.common.health_check import health_of
from services.security.channels import ChannelSecurity
from services.security.principal import Role


def available(names: tuple[str, ...] = ORDER) -> tuple[str, ...]:
    """The services among ``names`` whose package is installed (``services/<name>/__main__``)."""
    return tuple(n for n in names if importlib.util.find_spec(f"{SERVICES[n].module}.__main__"))


def log_tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class ServiceProcess:
    """One started service process (``python -m <module>``) and its log file."""

    def __init__(
        self, name: str, module: str, address: str, environment: dict[str, str], log_dir: Path
    ) -> None:
        self.name = name
        self.address = address
        self.log = log_dir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANNEAL_")}
        env.update(environment)
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def serving(self, security: ChannelSecurity) -> bool:
        with security.channel(self.address) as channel:
            return health_of(self.name, channel, timeout_s=1.0) == "serving"

    @classmethod
    def grpc_service(cls, name: str, config: SystemConfig, log_dir: Path) -> ServiceProcess:
        return cls(
            name, SERVICES[name].module, config.address(name), config.environment(name), log_dir
        )

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (graceful stop), then SIGKILL after ``grace_s``."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WebProcess(ServiceProcess):
    """The web app (``python -m services.web``); serving once ``/healthz`` answers."""

    def __init__(self, config: SystemConfig, log_dir: Path) -> None:
        super().__init__("web", "services.web", config.web_url, config.web_environment(), log_dir)

    def serving(self, security: ChannelSecurity) -> bool:
        try:
            with urllib.request.urlopen(f"{self.address}healthz", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False


class Supervisor:
    """Starts the services of a :class:`SystemConfig` in dependency order."""

    def __init__(self, config: SystemConfig) -> None:
        self.config = config
        self.log_dir = config.state_dir / "logs"
        self.processes: dict[str, ServiceProcess] = {}

    def start(self, names: tuple[str, ...] = ORDER) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            self.processes[name] = ServiceProcess.grpc_service(name, self.config, self.log_dir)

    def start_web(self) -> None:
        """Start the web app (after the services it calls)."""
        self.processes["web"] = WebProcess(self.config, self.log_dir)

    def wait_serving(self, timeout_s: float = 300.0) -> None:
        """Block until every started service reports SERVING; RuntimeError if one dies."""
        security = self.config.client(Role.READER)
        deadline = time.monotonic() + timeout_s
        waiting = dict(self.processes)
        while waiting:
            for name, service in list(waiting.items()):
                if service.process.poll() is not None:
                    raise RuntimeError(
                        f"the {name} service exited with code {service.process.returncode}:\n"
                        f"{log_tail(service.log)}"
                    )
                if service.serving(security):
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(
                    f"{', '.join(waiting)} not serving after {timeout_s:.0f}s; see {self.log_dir}"
                )
            time.sleep(0.5)

    def dead(self) -> list[str]:
        """Names of services whose process has exited."""
        return [n for n, s in self.processes.items() if s.process.poll() is not None]

    def stop(self) -> None:
        """Stop in reverse start order (callers first)."""
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
