"""The coordinator's side of a benchmark round, in a process of its own (so its memory is its own).

The coordinator service scans an archive folder and extracts backbone features, which is not
feasible for a synthetic million images; this process builds what the coordinator builds after
that (:class:`ModelWorkspace` over the synthetic features, :class:`RoundRunner` with
:class:`Downstream` and :class:`CachedFeatureReEmbedder`) and runs the round's states with the
coordinator's own handlers (``round_states.HANDLERS``), as its state machine does, minus the
state file. The benchmark sends one command at a time over a pipe and gets back the seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from synthetic_archive import synthetic_archive

from services.common.embedding_files import EmbeddingFiles
from services.common.settings import embeddings_folder
from services.coordinator.downstream import Downstream
from services.coordinator.evaluation import Evaluator
from services.coordinator.model_workspace import ModelWorkspace, WorkspaceConfig
from services.coordinator.reembedder import CachedFeatureReEmbedder
from services.coordinator.round_mode import RoundMode
from services.coordinator.round_runner import RoundRunner
from services.coordinator.round_states import HANDLERS, RoundContext
from services.coordinator.round_status import RoundStatus, Serving
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity

POLL_S = 0.2
log = logging.getLogger("bench.coordinator")


@dataclass(frozen=True)
class CoordinatorPlan:
    """Everything the process needs, picklable: the archive, the services, the round."""

    work: Path
    """Where the synthetic archive lies (kept between runs)."""
    scratch: Path
    """This run's coordinator folder: its models."""
    n: int
    clusters: int
    seed: int
    state_dir: Path
    """The system's state folder: the coordinator's certificate is under it."""
    selection_addr: str
    labels_addr: str
    search_addr: str
    dim: int
    strategy: str
    budget: int
    evaluate: bool


class BenchCoordinator:
    """The workspace, runner and round of one benchmark round."""

    def __init__(self, plan: CoordinatorPlan) -> None:
        synthetic = synthetic_archive(plan.work, plan.n, plan.clusters, plan.seed, say=log.info)
        folder = plan.scratch
        config = WorkspaceConfig(dim=plan.dim)
        rows = np.arange(plan.n)
        self.workspace = ModelWorkspace(
            synthetic.archive, synthetic.features, rows, folder / "models", config
        )
        tls = LocalSecurity.of(plan.state_dir).service_tls("coordinator")
        security = ChannelSecurity.for_service(tls)
        self._channels = [
            security.channel(a) for a in (plan.selection_addr, plan.labels_addr, plan.search_addr)
        ]
        downstream = Downstream(*self._channels, None)
        evaluator = (
            Evaluator(self.workspace.ids, self.workspace.classes)
            if plan.evaluate and self.workspace.classes
            else None
        )
        # where the selection service reads each index version's embeddings (as anneal serve)
        self.embeddings = EmbeddingFiles(embeddings_folder("", str(plan.state_dir)))
        head = RoundMode(None, CachedFeatureReEmbedder())
        self.runner = RoundRunner(
            self.workspace, downstream, {"head": head}, evaluator, self.embeddings
        )
        self.serving = Serving()
        self.status = RoundStatus(
            round=1,
            strategy=plan.strategy,
            budget=plan.budget,
            seed=plan.seed,
            close_when_answered=True,
        )

    def round0(self) -> dict[str, Any]:
        self.workspace.round0()
        return {"model_version": str(self.workspace.model_version(0))}

    def bootstrap(self) -> dict[str, Any]:
        self.serving = self.runner.bootstrap(self.serving)
        version = self.serving.index_version
        return {
            "index_version": version,
            "metrics": self.serving.metrics,
            "embeddings": str(self.embeddings.path(version) / "vectors.npy"),
        }

    def step(self) -> dict[str, Any]:
        """Run the current state's handler until the round moves on (COLLECTING polls)."""
        state = self.status.state
        context = RoundContext(self.runner, self.serving, [1], self.embeddings)
        outcome = HANDLERS[state](self.status, context)
        while outcome.next is None:
            time.sleep(POLL_S)
            outcome = HANDLERS[state](self.status, context)
        if outcome.serving is not None:
            self.serving = outcome.serving
        self.status.state = outcome.next
        return {
            "next": outcome.next.value,
            "pairs": self.status.pairs,
            "labelled": self.status.labelled_pairs,
            "model_version": self.status.model_version,
            "index_version": self.status.index_version,
            "stage_seconds": dict(self.status.stage_seconds),
            "metrics": dict(self.status.metrics),
            "embeddings": str(self.embeddings.path(self.status.index_version) / "vectors.npy"),
        }

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


def serve(plan: CoordinatorPlan, pipe: Connection) -> None:
    """The process's main: answer commands ("round0", "bootstrap", "step", "stop") until "stop".

    Each reply is ("ok", seconds, details) or ("error", seconds, one line).
    """
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    try:
        coordinator = BenchCoordinator(plan)
    except Exception as exc:
        pipe.send(("error", time.perf_counter() - started, _reason(exc)))
        return
    pipe.send(("ok", time.perf_counter() - started, {}))
    commands = {"round0": coordinator.round0, "bootstrap": coordinator.bootstrap}
    try:
        while True:
            command = pipe.recv()
            if command == "stop":
                return
            started = time.perf_counter()
            try:
                details = coordinator.step() if command == "step" else commands[command]()
            except Exception as exc:
                pipe.send(("error", time.perf_counter() - started, _reason(exc)))
                continue
            pipe.send(("ok", time.perf_counter() - started, details))
    finally:
        coordinator.close()


def _reason(exc: Exception) -> str:
    """One line: a failed call's status code and details, else the exception."""
    if isinstance(exc, grpc.RpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"
