"""Parts of the embedding service that need no Ray: batching order, throughput, image assembly,
and the service's settings."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from image_bytes import png_header

from anneal.errors import ImageDecodeError, ImageTooLargeError
from annealpb.embedding.v1 import embedding_pb2
from services.embedding.archive_images import ArchiveImages
from services.embedding.image_stream import ImageAssembler
from services.embedding.ordered_batches import OrderedBatches
from services.embedding.settings import EmbeddingSettings
from services.embedding.throughput import ThroughputMeter


def test_batches_run_concurrently_and_come_back_in_order() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def run(batch: list[int]) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05 if batch[0] == 0 else 0.01)  # the first batch finishes last
        with lock:
            running -= 1
        return sum(batch)

    with ThreadPoolExecutor(4) as executor:
        batches = OrderedBatches(run, batch_size=3, max_in_flight=2, executor=executor)
        results = list(batches.results(range(8)))
    assert results == [([0, 1, 2], 3), ([3, 4, 5], 12), ([6, 7], 13)]
    assert peak == 2


def test_a_failed_batch_raises_in_order() -> None:
    def run(batch: list[int]) -> int:
        if 4 in batch:
            raise ValueError("batch with 4")
        return len(batch)

    with ThreadPoolExecutor(2) as executor:
        results = OrderedBatches(run, 2, 2, executor).results(range(6))
        assert next(results) == ([0, 1], 2)
        assert next(results) == ([2, 3], 2)
        with pytest.raises(ValueError, match="batch with 4"):
            next(results)


def test_throughput_over_the_window() -> None:
    now = [100.0]
    meter = ThroughputMeter(window_s=10, clock=lambda: now[0])
    now[0] = 102.0
    meter.record(8, decode_seconds=0.5, model_seconds=1.5)
    assert meter.rate() == pytest.approx(4.0)  # 8 images in the 2 s since start
    now[0] = 120.0
    meter.record(20, 1.0, 2.0)
    assert meter.rate() == pytest.approx(2.0)  # the first 8 left the 10 s window
    totals = meter.totals()
    assert (totals.images, totals.decode_seconds, totals.model_seconds) == (28, 1.5, 3.5)


def chunk(image_id: str, data: bytes, last: bool) -> embedding_pb2.EmbedImagesRequest:
    return embedding_pb2.EmbedImagesRequest(
        chunk=embedding_pb2.ImageChunk(image_id=image_id, data=data, last=last)
    )


def test_chunks_are_joined_and_limited() -> None:
    first, second = png_header(2, 3), png_header(4, 5)
    assembler = ImageAssembler(max_image_bytes=len(second), archive=ArchiveImages(None))
    requests = [chunk("a", first[:9], False), chunk("a", first[9:], True), chunk("b", second, True)]
    images = list(assembler.images(iter(requests)))
    assert [(i.image_id, i.data, i.decoded_bytes) for i in images] == [
        ("a", first, 2 * 3 * 3),
        ("b", second, 4 * 5 * 3),
    ]
    with pytest.raises(ImageTooLargeError, match="'big'"):
        list(assembler.images(iter([chunk("big", second, False), chunk("big", b"x", True)])))
    with pytest.raises(ImageDecodeError) as refused:  # refused here, before reaching a worker
        list(assembler.images(iter([chunk("text", b"hello", True)])))
    assert str(refused.value) == "image 'text': cannot decode image: not a JPEG, PNG or TIFF"


def test_batches_are_cut_by_decoded_bytes_too() -> None:
    with ThreadPoolExecutor(2) as executor:
        batches = OrderedBatches(
            len, batch_size=4, max_in_flight=2, executor=executor, weight=int, max_weight=10
        )
        cut = [batch for batch, _ in batches.results([3, 3, 3, 3, 9, 1, 20, 1])]
    assert cut == [[3, 3, 3], [3], [9, 1], [20], [1]]  # 20 alone: over the budget by itself


def test_settings_from_environment_and_flags() -> None:
    insecure = {"ANNEAL_INSECURE": "true"}
    values = EmbeddingSettings.read([], insecure)
    assert (values.port, values.metrics_port, values.ray_address, values.workers) == (
        50052,
        9102,
        "",
        0,
    )
    assert values.initial_model_version == "pretrained"
    environ = {
        **insecure,
        "ANNEAL_RAY_ADDRESS": "ray://head:10001",
        "ANNEAL_EMBEDDING_WORKERS": "2",
    }
    values = EmbeddingSettings.read([], environ)
    assert (values.ray_address, values.workers) == ("ray://head:10001", 2)
    assert EmbeddingSettings.read(["--workers", "3"], environ).workers == 3


def test_bad_settings_stop_at_start_up(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        EmbeddingSettings.read(["--batch-size", "0"], {"ANNEAL_INSECURE": "true"})
    assert "expected a positive integer" in capsys.readouterr().err


def test_an_image_over_the_pixel_limit_is_refused_from_its_header() -> None:
    from anneal.data.image_io import MAX_IMAGE_PIXELS

    assembler = ImageAssembler(max_image_bytes=1 << 20, archive=ArchiveImages(None))
    side = int(MAX_IMAGE_PIXELS**0.5)
    bomb = png_header(side + 1, side + 1)
    assert len(bomb) < 100  # tiny on the wire, 67 million pixels once decoded
    with pytest.raises(ImageTooLargeError, match=r"'bomb'.*pixels"):
        list(assembler.images(iter([chunk("bomb", bomb, True)])))
    fits = png_header(side, side)
    assert [i.image_id for i in assembler.images(iter([chunk("fits", fits, True)]))] == ["fits"]
