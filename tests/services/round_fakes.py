"""A fake :class:`RoundWork` and a harness that steps the coordinator's state machine by hand.

No Ray, Milvus or gRPC server: the fake keeps the other services' state in memory (the index
versions built and serving, the label count), writes each checkpoint as a tiny file, and logs
every call, so a test can say exactly which work a step did. The harness builds the parts a
coordinator is made of (persisted state, embedding files, machine) on a folder, and builds them
again on the same folder to play a restart; the fake (the other services) outlives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
import numpy as np

from services.common.embedding_files import EmbeddingFiles
from services.coordinator.persisted_state import PersistedState
from services.coordinator.round_machine import Pause, RoundMachine
from services.coordinator.round_status import RoundState, RoundStatus, Serving
from services.coordinator.state_store import StateStore
from services.coordinator.step_backoff import StepBackoff

ROUND0 = Serving(1, "round-0-d8", "", {"map@20": 0.25})
"""What serves before the first round: the bootstrap's index version 1."""
METRICS = {"map@10": 0.75, "map@20": 0.5}


class Status(grpc.RpcError):
    """A failed call to another service, as the gRPC client raises it."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def unavailable() -> Status:
    return Status(grpc.StatusCode.UNAVAILABLE, "the search service is restarting")


ARCHIVE_IDS = ("a", "b", "c")


def embeddings_of(round_number: int) -> np.ndarray:
    """The archive's (3 x 2) embeddings under round ``round_number``'s model (unit rows times
    the round number: written normalised, they read back as round 1's)."""
    return np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32) * round_number


class FakeWork:
    """RoundWork in memory; ``fail[method]`` lists exceptions its next calls raise, in order."""

    def __init__(self, folder: Path, pairs: int = 4) -> None:
        self.folder = folder
        self.pairs = pairs
        self.labelled = 0
        self.built: set[int] = set()
        self.serving = ROUND0.index_version
        self.calls: list[str] = []
        self.fail: dict[str, list[Exception]] = {}
        self.selected_on = -1
        self.trained_on: list[int] = []
        self.indexed: np.ndarray | None = None

    def _call(self, name: str) -> None:
        self.calls.append(name)
        queued = self.fail.get(name)
        if queued:
            raise queued.pop(0)

    def bootstrap(self, serving: Serving) -> Serving:
        self._call("bootstrap")
        return serving if serving.index_version else ROUND0

    def check_mode(self, mode: str) -> None:
        """Every mode runs here."""

    def reconcile(self, serving: Serving) -> None:
        self._call("reconcile")

    def select(self, status: RoundStatus, serving_version: int) -> int:
        self._call("select")
        self.selected_on = serving_version
        return self.pairs

    def labelled_pairs(self, status: RoundStatus) -> int:
        self._call("labelled_pairs")
        return self.labelled

    def close_labels(self, status: RoundStatus) -> None:
        self._call("close_labels")

    def train(self, status: RoundStatus, label_rounds: Sequence[int]) -> tuple[str, str]:
        self._call("train")
        self.trained_on = list(label_rounds)
        path = self.folder / "models" / f"round-{status.round}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        return f"round-{status.round}", str(path)

    def embed(self, status: RoundStatus) -> tuple[np.ndarray, dict[str, float]]:
        self._call("embed")
        return embeddings_of(status.round), dict(METRICS)

    def archive_ids(self) -> Sequence[str]:
        return ARCHIVE_IDS

    def index(self, status: RoundStatus, embeddings: np.ndarray) -> float:
        self._call("index")
        self.indexed = embeddings
        self.built.add(status.index_version)
        return 1.5

    def serving_version(self) -> int:
        self._call("serving_version")
        return self.serving

    def swap(self, status: RoundStatus) -> bool:
        self._call("swap")
        if status.index_version not in self.built:
            return False
        self.built.discard(status.index_version)
        self.serving = status.index_version
        return True


class Harness:
    """The coordinator's parts on ``folder``; :meth:`restart` builds them again from disk."""

    def __init__(self, folder: Path, work: FakeWork, bootstrapped: bool = True) -> None:
        self.folder = folder
        self.work = work
        self.restart()
        if bootstrapped:
            self.persisted.state.serving = ROUND0
            self.persisted.save()

    def restart(self) -> None:
        """A coordinator started again: everything in memory is gone, the files stay."""
        self.persisted = PersistedState(StateStore(self.folder))
        self.embeddings = EmbeddingFiles(self.folder / "embeddings")
        self.machine = RoundMachine(self.persisted, self.embeddings, StepBackoff(), poll_s=0.5)

    @property
    def latest(self) -> RoundStatus:
        latest = self.persisted.state.latest
        assert latest is not None
        return latest

    def stored(self) -> RoundStatus:
        """The latest round as the state file holds it."""
        latest = StateStore(self.folder).load().latest
        assert latest is not None
        return latest

    def open_round(self, close_when_answered: bool = True, seed: int = 3) -> RoundStatus:
        """What StartRound records before the worker selects."""
        state = self.persisted.state
        number = state.latest.round + 1 if state.latest else 1
        status = RoundStatus(number, "random", self.work.pairs, seed, close_when_answered)
        state.rounds.append(status)
        self.persisted.save()
        return status

    def step(self) -> Pause:
        return self.machine.step(self.work, self.latest)

    def run_to(self, state: RoundState, limit: int = 20) -> list[RoundState]:
        """Step until the latest round is in ``state`` (or finished); the states it went to."""
        seen = []
        for _ in range(limit):
            if self.latest.state is state or self.latest.state.finished:
                break
            self.step()
            seen.append(self.latest.state)
        assert self.latest.state is state, f"stopped in {self.latest.state}: {self.latest.error}"
        return seen
