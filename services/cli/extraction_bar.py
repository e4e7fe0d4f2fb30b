"""The console bar of the coordinator's feature extraction, for ``anneal serve`` and the demo.

Fed by the coordinator's ``GetStatus`` replies (polled while waiting for the first index), so
it shows what the coordinator measures: images done of total, images/s and time left.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import TaskID

from anneal.cli.progress_bar import progress_bar
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from services.cli.status_view import extraction_rate

DESCRIPTION = "feature extraction"


class ExtractionBar:
    """Starts at the first reply of a running extraction; one with every feature cached
    already (done at the first reply) shows no bar."""

    def __init__(self, console: Console) -> None:
        self._bar = progress_bar(console)
        self._task: TaskID | None = None

    def show(self, extraction: pb.ExtractionProgress) -> None:
        description = f"{DESCRIPTION} ({extraction_rate(extraction)})"
        if self._task is None:
            if not extraction.running:
                return
            self._bar.start()
            self._task = self._bar.add_task(
                description, total=extraction.images_total, completed=extraction.images_done
            )
            return
        self._bar.update(
            self._task,
            completed=extraction.images_done,
            total=extraction.images_total,
            description=description,
        )

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None

    def __enter__(self) -> ExtractionBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
