"""The bridge's periodic pass: every ``poll_s`` seconds, and at once at start, until stopped."""

from __future__ import annotations

import logging
import threading
import time

import grpc

from services.labelstudio.bridge import Bridge
from services.labelstudio.metrics import LAST_SYNC, SYNC_FAILURES, SYNC_SECONDS

_log = logging.getLogger(__name__)


class SyncLoop:
    """Runs :meth:`Bridge.sync` on a thread of its own; a failed pass is logged, counted and
    repeated at the next tick (nothing it did half is lost: see bridge.py)."""

    def __init__(self, bridge: Bridge, poll_s: float) -> None:
        self.bridge = bridge
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labelstudio-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def run_once(self) -> bool:
        """One pass; False when it failed."""
        started = time.perf_counter()
        try:
            report = self.bridge.sync()
        except grpc.RpcError as error:
            code = error.code().name if isinstance(error, grpc.Call) else "UNKNOWN"
            _log.warning("sync pass stopped: an ANNEAL service answered %s", code)
        except Exception as error:  # Label Studio away, an HTTP error of its API
            _log.warning("sync pass stopped: %s: %s", type(error).__name__, error)
        else:
            SYNC_SECONDS.observe(time.perf_counter() - started)
            LAST_SYNC.set(time.time())
            if report.imported or report.stored or report.withdrawn:
                _log.info(
                    "sync: %d tasks imported, %d answers stored, %d withdrawn, %d refused",
                    report.imported,
                    report.stored,
                    report.withdrawn,
                    len(report.refused),
                )
            return True
        SYNC_FAILURES.inc()
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.poll_s)
