"""What a pass of the bridge did, added up over its steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.labelstudio.refusal import Refusal


@dataclass
class SyncReport:
    """What one pass did: tasks imported, tasks its pulls listed, answers stored and
    withdrawn, refusals."""

    imported: int = 0
    listed: int = 0
    stored: int = 0
    withdrawn: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def add(self, other: SyncReport) -> None:
        self.imported += other.imported
        self.listed += other.listed
        self.stored += other.stored
        self.withdrawn += other.withdrawn
        self.refused.extend(other.refused)
