"""Issue 9's input limits on the real service (loopback gRPC, the shared local Ray pool): bombs
refused before a worker sees them, clean messages, and no request holding others past its own
deadline. The images are crafted here: a few hundred bytes claiming any size."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable
from threading import Thread

import grpc
import numpy as np
import pytest
import tifffile
from embedding_fixtures import (
    INITIAL_VERSION,
    embed_stream,
    fresh_catalog,
    initial_model,
    png_images,
    shared_pool,
)
from image_bytes import png_header, tiff_claiming

from annealpb.embedding.v1 import embedding_pb2_grpc
from services.embedding.server import create_server
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration

Stub = embedding_pb2_grpc.EmbeddingServiceStub
MIB = 1024 * 1024


@pytest.fixture
def stub(serve) -> Stub:
    built = create_server(
        "127.0.0.1:0",
        shared_pool(),
        fresh_catalog(),
        batch_size=8,
        max_image_bytes=16 * MIB,
        security=ServerSecurity.insecure(),
    )
    return Stub(serve(built))


def refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def assert_clean(details: str) -> None:
    for leak in ("Traceback", "pid=", "actor", "Actor", "/", "<_io", "0x", "ray"):
        assert leak not in details, f"{leak!r} in {details!r}"


def test_a_huge_tiff_header_is_refused_before_a_worker_decodes_it(stub: Stub) -> None:
    bomb = tiff_claiming(30000, 30000)
    before = shared_pool().resident_bytes()
    started = time.perf_counter()
    code, details = refusal(lambda: list(stub.EmbedImages(embed_stream([bomb], ["bomb"]))))
    seconds = time.perf_counter() - started
    grown = [after - was for after, was in zip(shared_pool().resident_bytes(), before, strict=True)]
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details == (
        "image 'bomb': image is 30000 x 30000 = 900,000,000 pixels, over the limit of"
        " 67,108,864 pixels; downscale or tile it"
    )
    assert seconds < 1.0
    assert max(grown) < 64 * MIB  # the 2.7 GB it declares were never allocated


def test_a_huge_png_is_resource_exhausted_without_a_ray_traceback(stub: Stub) -> None:
    code, details = refusal(
        lambda: list(stub.EmbedImages(embed_stream([png_header(20000, 20000)], ["big"])))
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "over the limit of" in details
    assert_clean(details)


def test_bytes_that_are_no_image_get_our_message(stub: Stub) -> None:
    code, details = refusal(lambda: list(stub.EmbedImages(embed_stream([b"GIF89a..."], ["g"]))))
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "image 'g': cannot decode image: not a JPEG, PNG or TIFF",
    )


def _scene() -> bytes:
    """A legal 2048 x 2048 RGB scene (12 KB of Deflate, 12 MiB decoded): a batch holds 21 of
    them (the batch's decoded-byte budget), and a worker takes a few hundredths of a second
    for each."""
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, np.zeros((2048, 2048, 3), np.uint8), photometric="rgb", compression="zlib"
    )
    return buffer.getvalue()


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    try:
        result: object = call()
    except grpc.RpcError as exc:
        result = exc.code()
    return time.perf_counter() - started, result


def _query(stub: Stub) -> Callable[[], object]:
    return lambda: len(list(stub.EmbedImages(embed_stream(png_images(1)), timeout=30.0)))


def test_a_slow_request_past_its_deadline_does_not_hold_a_normal_one(serve) -> None:
    built = create_server(
        "127.0.0.1:0",
        shared_pool(),
        fresh_catalog(),
        batch_size=64,
        max_image_bytes=16 * MIB,
        security=ServerSecurity.insecure(),
    )
    stub = Stub(serve(built))
    scenes = [_scene()] * 42  # two batches of 21, one on each worker
    batch_s, done = _timed(lambda: list(stub.EmbedImages(embed_stream(scenes))))
    assert done != grpc.StatusCode.DEADLINE_EXCEEDED
    results: dict[str, tuple[float, object]] = {}

    def attack() -> None:
        results["slow"] = _timed(
            lambda: list(stub.EmbedImages(embed_stream(scenes * 2), timeout=0.5 * batch_s))
        )

    thread = threading.Thread(target=attack)
    thread.start()
    time.sleep(0.1)
    query_s, answer = _timed(_query(stub))
    thread.join()
    slow_s, slow = results["slow"]
    assert slow == grpc.StatusCode.DEADLINE_EXCEEDED and slow_s < 0.5 * batch_s + 0.5
    assert answer == 1 and query_s < 1.5 * batch_s, (query_s, batch_s)


def _batches_on_the_pool(count: int, timeout_s: float | None, owner: object) -> list[Thread]:
    """``count`` threads, each embedding one batch of 21 scenes; started 10 ms apart."""
    scenes = [_scene()] * 21

    def run() -> None:
        with contextlib.suppress(TimeoutError):
            shared_pool().embed(INITIAL_VERSION, scenes, timeout_s, owner)

    threads = [Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    return threads


def _batch_seconds() -> float:
    """How long the two workers take for a batch of 21 scenes each, side by side."""
    started = time.perf_counter()
    for thread in _batches_on_the_pool(2, None, object()):
        thread.join()
    return time.perf_counter() - started


def test_workers_stop_an_abandoned_batch_within_one_image() -> None:
    initial_model()
    batch_s = _batch_seconds()
    started = time.perf_counter()
    abandoned = _batches_on_the_pool(2, 0.2 * batch_s, object())  # both workers
    shared_pool().embed(INITIAL_VERSION, png_images(1), 30.0)
    query_done = time.perf_counter() - started
    for thread in abandoned:
        thread.join()
    # A worker that ran its batch to the end would answer the query after about batch_s.
    assert query_done < 0.6 * batch_s, (query_done, batch_s)


@pytest.mark.slow
def test_a_query_goes_before_a_streams_queued_batches() -> None:
    initial_model()
    batch_s = _batch_seconds()
    started = time.perf_counter()
    stream = _batches_on_the_pool(4, None, object())  # two running, two waiting for a worker
    time.sleep(0.1)
    shared_pool().embed(INITIAL_VERSION, png_images(1), 30.0)
    query_done = time.perf_counter() - started
    for thread in stream:
        thread.join()
    stream_done = time.perf_counter() - started
    # The query takes the first worker to come free (after about batch_s); first come, first
    # served would give that worker to the stream's third batch and make the query wait for it.
    assert query_done < 0.75 * stream_done, (query_done, stream_done, batch_s)


@pytest.mark.slow
def test_a_worker_that_dies_mid_batch_is_a_clean_unavailable_and_heals() -> None:
    import ray

    from services.embedding.errors import WorkerFailedError

    initial_model()
    pool = shared_pool()
    results: list[BaseException] = []

    def run() -> None:
        try:
            pool.embed(INITIAL_VERSION, [_scene()] * 21, 60.0)
        except Exception as exc:
            results.append(exc)

    threads = [Thread(target=run) for _ in range(pool.size)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    for actor in pool._actors:  # both are busy with a batch: kill them, Ray restarts them
        ray.kill(actor, no_restart=False)
    for thread in threads:
        thread.join()
    assert len(results) == pool.size and all(isinstance(e, WorkerFailedError) for e in results)
    assert str(results[0]) == (
        "an embedding worker stopped while embedding this batch; it is being restarted, retry"
    )
    # the retry the message asks for works once Ray has restarted the workers: they get the
    # model back (a client retries UNAVAILABLE with backoff; this test does the same)
    for attempt in range(30):
        try:
            assert pool.embed(INITIAL_VERSION, png_images(1), 60.0).vectors is not None
            break
        except WorkerFailedError:
            time.sleep(min(2.0, 0.1 * 2**attempt))
    else:
        pytest.fail("the restarted workers never answered")
