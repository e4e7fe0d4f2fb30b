"""The EMBEDDING state's output on disk: the archive's embeddings under the round's new model.

EMBEDDING writes them, INDEXING reads them (and SWAPPING, when the search service lost an
unswapped build), so a restart in INDEXING or SWAPPING resumes from the file instead of
re-embedding. One ``.npy`` file per round under ``<coordinator state>/embeddings``, written
atomically; dropped when the round is DONE or FAILED. Size: rows x dim x 4 bytes (UC Merced at
128-d: 1 MiB; 590k images: 300 MiB, for the few minutes between EMBEDDING and DONE).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anneal.state_files import write_atomic


class EmbeddingStore:
    """Saves, loads and drops one (N, dim) float32 array per round under ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, round_number: int) -> Path:
        return self.folder / f"round-{round_number}.npy"

    def save(self, round_number: int, embeddings: np.ndarray) -> None:
        array = np.ascontiguousarray(embeddings, dtype=np.float32)
        write_atomic(self.path(round_number), lambda out: np.save(out, array, allow_pickle=False))

    def load(self, round_number: int) -> np.ndarray | None:
        """The round's embeddings; None if they were never written (or were dropped)."""
        path = self.path(round_number)
        if not path.is_file():
            return None
        return np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)

    def drop(self, round_number: int) -> None:
        self.path(round_number).unlink(missing_ok=True)
