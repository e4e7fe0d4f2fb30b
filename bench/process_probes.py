"""What each process of a system used over a stage: its peak memory and the bytes it exchanged.

Peak memory is the kernel's high-water mark of resident memory (``VmHWM`` in
``/proc/<pid>/status``), reset to the current resident size at the start of each stage by
writing 5 to ``/proc/<pid>/clear_refs``; file pages mapped and touched (a memory-mapped feature
file) count, as they do against a container's memory limit.

Bytes are what TCP carried between two processes on loopback, read per connection from the
kernel's ``tcp_info`` (``ss -tinp``: ``bytes_sent`` and ``bytes_received`` of the calling side's
socket): the gRPC messages with their HTTP/2 framing and TLS records, nothing in the services
changed or counted by them. A connection is attributed to (its owner process, the service
listening on its peer port). Connections are sampled every ``interval_s``; a connection opened
and closed between two samples is missed (the services keep their channels open).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

Counts = dict[tuple[int, int, int], tuple[int, int]]
"""(owner pid, local port, peer port) -> (bytes sent, bytes received)."""

_LOOPBACK = r"(?:\[::ffff:)?127\.0\.0\.1\]?:(\d+)"
"""A loopback end, IPv4 or IPv4-mapped IPv6 (gRPC's sockets are dual-stack)."""
_SOCKET = re.compile(_LOOPBACK + r"\s+" + _LOOPBACK + r"\s+users:\(\(\"[^\"]*\",pid=(\d+)")
_SENT = re.compile(r"bytes_sent:(\d+)")
_RECEIVED = re.compile(r"bytes_received:(\d+)")


def peak_rss(pid: int) -> int:
    """Bytes of the process's resident high-water mark (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def reset_peak(pid: int) -> None:
    """Start the high-water mark again from the current resident size."""
    with contextlib.suppress(OSError):  # gone
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def tcp_counts() -> Counts:
    """Bytes sent and received so far by every established loopback TCP socket with an owner."""
    text = subprocess.run(
        ["ss", "-tinpH", "state", "established"], capture_output=True, text=True, check=True
    ).stdout
    counts: Counts = {}
    current: tuple[int, int, int] | None = None
    for line in text.splitlines():
        found = _SOCKET.search(line)
        if found:
            local, peer, pid = (int(g) for g in found.groups())
            current = (pid, local, peer)
            continue
        if current is not None and line.startswith(("\t", " ")):
            sent, received = _SENT.search(line), _RECEIVED.search(line)
            counts[current] = (
                int(sent.group(1)) if sent else 0,
                int(received.group(1)) if received else 0,
            )
            current = None
    return counts


@dataclass
class StageUse:
    """One stage: peak resident bytes by process name, bytes by (from, to) process names."""

    name: str
    seconds: float = 0.0
    peaks: dict[str, int] = field(default_factory=dict)
    moved: dict[tuple[str, str], int] = field(default_factory=dict)


class ProcessProbes:
    """Samples the TCP counters in a thread and cuts the run into stages.

    ``processes``: name -> pid of every process measured; ``listeners``: port -> name of the
    process listening there (its public, internal and metrics ports; the Milvus port).
    """

    def __init__(
        self,
        processes: Mapping[str, int],
        listeners: Mapping[int, str],
        interval_s: float = 1.0,
    ) -> None:
        self._names = {pid: name for name, pid in processes.items()}
        self._listeners = dict(listeners)
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last: Counts = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probes", daemon=True)
        self._stage: StageUse | None = None
        self._stage_start: Counts = {}
        self._started = 0.0
        self.stages: list[StageUse] = []

    def __enter__(self) -> ProcessProbes:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> Counts:
        counts = tcp_counts()
        with self._lock:
            self._last.update(counts)
            return dict(self._last)

    def begin(self, name: str) -> None:
        """Start a stage: peaks reset, counters noted."""
        for pid in self._names:
            reset_peak(pid)
        self._stage_start = self._sample()
        self._stage = StageUse(name)
        self._started = time.perf_counter()

    def end(self) -> StageUse:
        """End the stage begun last: its peaks and the bytes moved since it began."""
        stage = self._stage
        if stage is None:
            raise RuntimeError("end() without begin()")
        stage.seconds = time.perf_counter() - self._started
        stage.peaks = {name: peak_rss(pid) for pid, name in self._names.items()}
        now = self._sample()
        moved: dict[tuple[str, str], int] = defaultdict(int)
        for key, (sent, received) in now.items():
            pid, _local, peer = key
            if pid not in self._names or peer not in self._listeners:
                continue  # the serving side of a connection, or a process not measured
            sent0, received0 = self._stage_start.get(key, (0, 0))
            caller, callee = self._names[pid], self._listeners[peer]
            moved[(caller, callee)] += sent - sent0
            moved[(callee, caller)] += received - received0
        stage.moved = {pair: count for pair, count in moved.items() if count > 0}
        self.stages.append(stage)
        self._stage = None
        return stage
