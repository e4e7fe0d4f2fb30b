"""Runs the six services and the web app as child processes, restarts one that dies, stops them.

Each child (``python -m services.<name>``) runs in its own session and logs to
``<state>/logs/<name>.log``. :meth:`Supervisor.wait_serving` waits for its grpc.health.v1 status
to be SERVING and fails with the log's tail if it exits first (a start-up error needs a person).
Once the system is up, :meth:`Supervisor.keep_alive` watches the children: one that dies is
restarted after the back-off of its :class:`RestartPolicy` (its leftover children killed first),
until it crashed too often; then it stays down with a one-line message and the others keep
serving. A hand-written supervisor rather than supervisord or circus: docs/architecture.md,
"Process model", says why.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from services.cli.restart_policy import CrashHistory, RestartPolicy
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


def kill_session(session_id: int) -> int:
    """SIGKILL every process left in session ``session_id`` (a dead service's children: Ray's
    raylet and workers, ...); how many. Reads /proc, so a no-op where there is none."""
    killed = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[3]) == session_id:  # fields after the name: state ppid pgrp session
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to signal
    return killed


class ServiceProcess:
    """One started service process (``python -m <module>``) and its log file."""

    def __init__(
        self, name: str, module: str, address: str, environment: dict[str, str], log_dir: Path
    ) -> None:
        self.name = name
        self.address = address
        self.log = log_dir / f"{name}.log"
        self._module = module
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("ANNEAL_")}
        self._env.update(environment)
        self.process = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        with self.log.open("a") as log:
            return subprocess.Popen(
                [sys.executable, "-m", self._module],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def restart(self) -> None:
        """Start the process again (after it exited), with the same command and settings."""
        self.process = self._launch()

    def reap(self) -> None:
        """Kill what the exited process left running in its session (children of its own)."""
        kill_session(self.process.pid)

    def serving(self, security: ChannelSecurity) -> bool:
        with security.channel(self.address) as channel:
            return health_of(self.name, channel, timeout_s=1.0) == "serving"

    @classmethod
    def grpc_service(cls, name: str, config: SystemConfig, log_dir: Path) -> ServiceProcess:
        return cls(
            name, SERVICES[name].module, config.address(name), config.environment(name), log_dir
        )

    def terminate(self) -> None:
        """SIGTERM: the service stops taking calls and finishes those in flight."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (graceful stop), then SIGKILL after ``grace_s``; then its leftovers."""
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reap()


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
    """Starts the services of a :class:`SystemConfig` in dependency order and keeps them up."""

    def __init__(
        self,
        config: SystemConfig,
        restart_policy: RestartPolicy | None = None,
        say: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.config = config
        self.log_dir = config.state_dir / "logs"
        self.processes: dict[str, ServiceProcess] = {}
        self.restart_policy = restart_policy or RestartPolicy()
        self.restarts: dict[str, int] = {}
        """Restarts so far, by service name."""
        self.given_up: set[str] = set()
        """Services that crashed too often and stay down."""
        self._say = say
        self._crashes: dict[str, CrashHistory] = {}
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self, names: tuple[str, ...] = ORDER) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            self._add(ServiceProcess.grpc_service(name, self.config, self.log_dir))

    def start_web(self) -> None:
        """Start the web app (after the services it calls)."""
        self._add(WebProcess(self.config, self.log_dir))

    def _add(self, service: ServiceProcess) -> None:
        with self._lock:
            self.processes[service.name] = service
            self._crashes[service.name] = self.restart_policy.history()
            self.restarts[service.name] = 0

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

    def pid(self, name: str) -> int:
        return int(self.processes[name].process.pid)

    # -- keeping the services up ----------------------------------------------------------------

    def keep_alive(self, interval_s: float = 0.2) -> None:
        """From now on restart a service that dies (a background thread, until :meth:`stop`)."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, args=(interval_s,), name="supervisor", daemon=True
            )
            self._watcher.start()

    def _watch(self, interval_s: float) -> None:
        while not self._stopping.wait(interval_s):
            self.heal()

    def heal(self) -> None:
        """One pass: note services that died, restart those whose back-off is over."""
        with self._lock:
            now = self.restart_policy.clock()
            for name, service in self.processes.items():
                if name in self.given_up or self._stopping.is_set():
                    continue
                if name in self._due:
                    if now >= self._due[name]:
                        del self._due[name]
                        service.restart()
                        self.restarts[name] += 1
                        self._say(f"restarted the {name} service (pid {service.process.pid})")
                    continue
                code = service.process.poll()
                if code is not None:
                    self._crashed(name, service, code, now)

    def _crashed(self, name: str, service: ServiceProcess, code: int, now: float) -> None:
        service.reap()
        history = self._crashes[name]
        delay = history.crashed()
        policy = self.restart_policy
        if delay is None:
            self.given_up.add(name)
            self._say(
                f"[red]the {name} service crashed {history.recent} times within"
                f" {policy.window_s:.0f}s; not restarting it (log: {service.log});"
                " the others keep serving[/red]"
            )
            return
        self._due[name] = now + delay
        self._say(
            f"[yellow]the {name} service exited (code {code}); restarting it in {delay:.1f}s"
            f" (crash {history.recent} of {policy.max_crashes} allowed within"
            f" {policy.window_s:.0f}s; log: {service.log})[/yellow]"
        )

    def stop(self) -> None:
        """Stop watching, then stop the services, SIGTERM to all (callers first) at once."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        with self._lock:
            services = list(reversed(self.processes.values()))
            for service in services:  # all at once: each finishes its in-flight calls
                service.terminate()
            for service in services:
                service.stop()
