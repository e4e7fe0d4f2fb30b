"""What one ingest of added archive images did (``IngestArchive``, ``anneal ingest``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestReport:
    """Images indexed by the call, new files left out as unreadable, and the serving index
    (same version as before the call) with the model that embedded them and its size now."""

    added: int
    unreadable: int
    index_version: int
    model_version: str
    indexed: int
