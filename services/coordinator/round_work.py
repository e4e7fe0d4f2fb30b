"""The work the round states ask for, as one interface: :class:`RoundRunner` does it against the
other services; the state machine's unit tests give a fake that does it in memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from services.coordinator.ingest_report import IngestReport
from services.coordinator.round_status import RoundStatus, Serving


class RoundWork(Protocol):
    """One method per piece of a round's work; each returns what it produced."""

    def bootstrap(self, serving: Serving) -> Serving:
        """Make sure an index serves (the archive indexed with the round-0 model at first start);
        the serving record, a new object when it changed."""
        ...

    def check_mode(self, mode: str) -> None:
        """ConfigError unless rounds of training mode ``mode`` can run here."""
        ...

    def ingest(self, serving: Serving) -> IngestReport:
        """Add the images that appeared in the archive folder to the workspace and to the
        serving index version, in place (features and embeddings of only those)."""
        ...

    def reconcile(self, serving: Serving) -> None:
        """Reload the serving model into the embedding service if it lost it."""
        ...

    def select(self, status: RoundStatus, serving_version: int) -> int:
        """Open the round's pairs (idempotent); how many there are."""
        ...

    def labelled_pairs(self, status: RoundStatus) -> int: ...

    def close_labels(self, status: RoundStatus) -> None: ...

    def train(self, status: RoundStatus, label_rounds: Sequence[int]) -> tuple[str, str]:
        """Train on the labels of ``label_rounds``; the model version and checkpoint path."""
        ...

    def embed(self, status: RoundStatus) -> tuple[np.ndarray, dict[str, float]]:
        """The archive's embeddings under the round's model, and their evaluation."""
        ...

    def archive_ids(self) -> Sequence[str]:
        """The archive's image ids, in the order of the rows ``embed`` returns."""
        ...

    def index(self, status: RoundStatus, embeddings: np.ndarray) -> float:
        """Build the round's index version (a version built already is used as is); seconds."""
        ...

    def serving_version(self) -> int:
        """The index version the search service serves (0: none)."""
        ...

    def swap(self, status: RoundStatus) -> bool:
        """Serve the round's index version; False when the search service has no build of it
        (it restarted after the build): build it again, then swap."""
        ...
