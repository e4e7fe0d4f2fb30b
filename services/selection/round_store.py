"""Selection rounds on disk: one JSON file per round under the state directory."""

from __future__ import annotations

import threading
from pathlib import Path

from anneal.state_files import read_json, write_json_atomic
from services.selection.round_record import RoundRecord


class RoundStore:
    """Reads and writes :class:`RoundRecord` files ``<dir>/round-<N>.json`` (atomic writes)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, round_number: int) -> Path:
        return self.folder / f"round-{round_number:06d}.json"

    def get(self, round_number: int) -> RoundRecord | None:
        """The stored round, or None if it was never opened."""
        path = self._path(round_number)
        with self._lock:
            if not path.is_file():
                return None
            return RoundRecord.from_dict(read_json(path))

    def put(self, record: RoundRecord) -> None:
        """Store a new round (the caller checked it does not exist yet)."""
        with self._lock:
            write_json_atomic(self._path(record.arguments.round), record.to_dict())

    def rounds(self) -> list[int]:
        """Numbers of the stored rounds, ascending."""
        with self._lock:
            return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("round-*.json"))
