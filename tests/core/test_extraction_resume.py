"""Feature extraction stores each batch as it goes: interrupted, it resumes with the rest.

The tiny archive has 18 images; batches of 4. An extractor that fails on its third batch
leaves 2 batches (8 images) stored, so the resumed run passes exactly the other 10 to the
backbone, and its features equal those of one uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from anneal.data.archive import Archive
from anneal.models.encoded_features import ImageFeatures, encoded_features
from anneal.models.extract import extract_features
from anneal.models.extraction_progress import ExtractionProgress
from anneal.models.registry import build_backbone


class Interrupted(Exception):
    pass


class CountingExtractor:
    """The backbone, counting the images it is given; raises on batch ``fail_on`` (1-based)."""

    def __init__(self, backbone_name: str = "efficientnet-lite0", fail_on: int = 0) -> None:
        self.backbone = build_backbone(backbone_name)
        self.fail_on = fail_on
        self.batches = 0
        self.images = 0

    def __call__(self, images: Sequence[bytes]) -> list[ImageFeatures]:
        self.batches += 1
        if self.batches == self.fail_on:
            raise Interrupted
        self.images += len(images)
        return encoded_features(self.backbone, images)


def test_an_interrupted_extraction_resumes_with_only_the_images_not_stored(
    tiny_archive: Path, tmp_path: Path
) -> None:
    archive = Archive.from_folder(tiny_archive)
    cache = tmp_path / "cache"
    first = CountingExtractor(fail_on=3)
    with pytest.raises(Interrupted):
        extract_features(archive, first.backbone, cache, batch_size=4, extractor=first)
    assert first.images == 8
    resumed = CountingExtractor()
    done: list[tuple[int, int]] = []

    def progress(images_done: int, total: int) -> None:
        done.append((images_done, total))

    result = extract_features(
        archive, resumed.backbone, cache, batch_size=4, extractor=resumed, progress=progress
    )
    assert resumed.images == 18 - 8
    assert done[-1] == (18, 18)
    whole = CountingExtractor()
    uninterrupted = extract_features(
        archive, whole.backbone, tmp_path / "other", batch_size=4, extractor=whole
    )
    assert whole.images == 18
    np.testing.assert_array_equal(result.rows, uninterrupted.rows)
    np.testing.assert_allclose(result.features, uninterrupted.features, rtol=1e-5, atol=1e-5)


def test_progress_measures_images_per_second_and_time_left_over_its_window() -> None:
    now = [0.0]
    progress = ExtractionProgress(window_s=10.0, clock=lambda: now[0])
    assert not progress.snapshot().started
    progress(0, 100)
    now[0] = 1.0
    progress(50, 100)  # a cached burst: 50 images in 1 s
    now[0] = 21.0
    progress(70, 100)  # then 20 images in 20 s; the burst is out of the 10 s window
    now[0] = 31.0
    progress(80, 100)
    now[0] = 31.1
    progress(80, 100)  # within the resolution: no sample kept, but the reading is the latest
    reading = progress.snapshot()
    assert (reading.done, reading.total, reading.running) == (80, 100, True)
    # the window holds the samples at 21 s and 31 s: 10 images in 10.1 s, 20 left
    assert reading.images_per_second == pytest.approx(10 / 10.1)
    assert reading.seconds_left == pytest.approx(20.2)
    progress(100, 100)
    assert progress.snapshot().running is False
    assert progress.snapshot().seconds_left == 0.0
