"""The coordinator's state file: one JSON document, replaced atomically after each transition."""

from __future__ import annotations

from pathlib import Path

from anneal.state_files import read_json, write_json_atomic
from services.coordinator.round_status import CoordinatorState


class StateStore:
    """Loads and saves :class:`CoordinatorState` at ``<folder>/state.json``."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / "state.json"

    def load(self) -> CoordinatorState:
        """The stored state; an empty one on first start."""
        if not self.path.is_file():
            return CoordinatorState()
        return CoordinatorState.from_dict(read_json(self.path))

    def save(self, state: CoordinatorState) -> None:
        write_json_atomic(self.path, state.to_dict())
