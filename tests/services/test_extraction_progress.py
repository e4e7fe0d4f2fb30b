"""The coordinator's feature extraction shows its progress while it runs: in GetStatus (what
``anneal status`` prints), in its metrics, and as the console bar of ``anneal serve``.

The tiny archive has 18 images, extracted in batches of 6 by a fake extractor (constant
features, no backbone) that holds its second batch until the test has read the status, so the
status is read mid-extraction with exactly 6 images done.
"""

from __future__ import annotations

import functools
import io
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry
from rich.console import Console
from round_helpers import make_archive

from anneal.models.extract import extract_features
from anneal.models.extraction_progress import ExtractionProgress
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.extraction_bar import ExtractionBar
from services.cli.status_view import extraction_line
from services.coordinator import metrics
from services.coordinator.coordinator import Coordinator
from services.coordinator.model_workspace import ModelWorkspace, WorkspaceConfig
from services.coordinator.round_work import RoundWork
from services.coordinator.server import create_server
from services.coordinator.state_store import StateStore
from services.security.server_security import ServerSecurity

FEATURE_DIM = 1280  # efficientnet-lite0's, the default backbone (the cache is keyed by it)


class HeldExtractor:
    """Constant features; the second batch waits for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches = 0

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        self.batches += 1
        if self.batches == 2:
            assert self.release.wait(30), "the test never released the extraction"
        return np.ones((len(images), FEATURE_DIM), dtype=np.float32)


class Prepared(Exception):
    """Ends ``prepare`` once the features are extracted (no round is run here)."""


def _status(stub: coordinator_pb2_grpc.CoordinatorServiceStub) -> pb.GetStatusResponse:
    return stub.GetStatus(pb.GetStatusRequest(), timeout=10)


def _wait_for(
    stub: coordinator_pb2_grpc.CoordinatorServiceStub, done: int
) -> pb.ExtractionProgress:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = _status(stub)
        if reply.HasField("extraction") and reply.extraction.images_done == done:
            return reply.extraction
        time.sleep(0.05)
    raise AssertionError(f"extraction never reached {done} images")


def test_status_and_metrics_show_the_extraction_while_it_runs(tmp_path: Path, serve) -> None:
    make_archive(tmp_path / "archive")
    config = WorkspaceConfig(dim=8, cache_dir=str(tmp_path / "features"), extract_batch=6)
    extractor = HeldExtractor()
    progress = ExtractionProgress()
    metrics.watch_extraction(progress)
    registry = CollectorRegistry()
    for gauge in (
        metrics.EXTRACTION_DONE,
        metrics.EXTRACTION_TOTAL,
        metrics.EXTRACTION_RATE,
        metrics.EXTRACTION_LEFT,
    ):
        registry.register(gauge)

    def prepare() -> RoundWork:
        ingest = functools.partial(extract_features, extractor=extractor)
        ModelWorkspace.prepare(tmp_path / "archive", tmp_path / "models", config, progress, ingest)
        raise Prepared

    coordinator = Coordinator(StateStore(tmp_path / "state"), prepare, extraction=progress)
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(
        serve(create_server("127.0.0.1:0", coordinator, security=ServerSecurity.insecure()))
    )
    assert not _status(stub).HasField("extraction")
    coordinator.start()
    try:
        running = _wait_for(stub, 6)
        assert (running.images_total, running.running) == (18, True)
        assert running.images_per_second > 0
        assert running.seconds_left > 0
        assert extraction_line(running).startswith("feature extraction: 6/18 images, ")
        assert registry.get_sample_value("anneal_extraction_images_done") == 6
        assert registry.get_sample_value("anneal_extraction_images_total") == 18
        assert registry.get_sample_value("anneal_extraction_seconds_left") > 0
        extractor.release.set()
        finished = _wait_for(stub, 18)
        assert (finished.running, finished.seconds_left) == (False, 0)
        assert registry.get_sample_value("anneal_extraction_seconds_left") == 0
    finally:
        extractor.release.set()
        coordinator.stop()


def test_status_line_gives_images_done_rate_and_time_left() -> None:
    running = pb.ExtractionProgress(
        images_done=300, images_total=2100, images_per_second=8.0, seconds_left=225, running=True
    )
    assert extraction_line(running) == (
        "feature extraction: 300/2100 images, 8.0 images/s, 3:45 left"
    )
    unknown = pb.ExtractionProgress(images_total=2100, seconds_left=-1, running=True)
    assert extraction_line(unknown) == "feature extraction: 0/2100 images, measuring images/s"


def test_console_bar_renders_the_extraction_and_none_when_all_was_cached() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    with ExtractionBar(console) as bar:
        bar.show(
            pb.ExtractionProgress(
                images_done=300,
                images_total=2100,
                images_per_second=8.0,
                seconds_left=225,
                running=True,
            )
        )
    text = out.getvalue()
    assert "feature extraction (8.0 images/s, 3:45 left)" in text
    assert "300/2100" in text
    cached = io.StringIO()
    with ExtractionBar(Console(file=cached, width=120)) as bar:
        bar.show(pb.ExtractionProgress(images_done=18, images_total=18, running=False))
    assert cached.getvalue() == ""


def _not_started() -> RoundWork:
    raise AssertionError("the coordinator is not started here")


def test_watch_status_pushes_the_extraction_as_it_moves(tmp_path: Path, serve) -> None:
    progress = ExtractionProgress()
    coordinator = Coordinator(StateStore(tmp_path / "state"), _not_started, extraction=progress)
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(
        serve(create_server("127.0.0.1:0", coordinator, security=ServerSecurity.insecure()))
    )
    progress(0, 18)
    watch = stub.WatchStatus(pb.WatchStatusRequest(), timeout=10)
    seen: list[int] = []
    try:
        for update in watch:  # no round changes: every message is the extraction moving
            seen.append(update.extraction.images_done)
            if update.extraction.images_done == 18:
                break
            progress(update.extraction.images_done + 6, 18)
    finally:
        watch.cancel()
    assert seen == [0, 6, 12, 18]
