"""Input limits under attack (issue 9): how fast bombs are refused and what they cost the workers.

Starts the embedding service in this process on a local Ray (two CPU workers, one torch thread
each, as the tests do) and measures:

* seconds to refuse a 30000 x 30000 TIFF header (0.4 KB) in the library and through gRPC;
* the library's refusal of a Deflate TIFF whose 16 x 16 header hides a strip that inflates to
  256 MiB: seconds and the peak of Python-traced memory;
* every worker's resident memory before and after the attacks;
* the latency of a one-image query (a 256 x 256 PNG, as a Retrieve by image sends) alone, and
  while attackers send bombs (30000 x 30000 TIFF, 20000 x 20000 PNG, zip-bomb TIFF) and slow
  streams of legal 2048 x 2048 scenes with a short deadline, all at once and in a loop.

Prints a Markdown section.

    .venv/bin/python bench/image_limits.py --queries 40
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator

import grpc
import numpy as np
import tifffile
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from image_bytes import png_header, tiff_claiming, tiff_with_lying_strip

from anneal.data.image_io import decode_image
from anneal.errors import ImageDecodeError
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.embedding.model_catalog import ModelCatalog
from services.embedding.ray_session import connect_ray
from services.embedding.server import create_server
from services.embedding.worker_pool import WorkerPool
from services.security.server_security import ServerSecurity

MIB = 1024 * 1024


def stream(images: list[bytes]) -> Iterator[embedding_pb2.EmbedImagesRequest]:
    yield embedding_pb2.EmbedImagesRequest(options=embedding_pb2.EmbedOptions())
    for i, data in enumerate(images):
        yield embedding_pb2.EmbedImagesRequest(
            chunk=embedding_pb2.ImageChunk(image_id=f"img-{i}", data=data, last=True)
        )


def timed(call: Callable[[], object]) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        call()
        outcome = "OK"
    except grpc.RpcError as exc:
        outcome = exc.code().name
    return time.perf_counter() - started, outcome


def scene(side: int) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, np.zeros((side, side, 3), np.uint8), photometric="rgb", compression="zlib"
    )
    return buffer.getvalue()


def query_image() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--attackers", type=int, default=3)
    args = parser.parse_args()

    bomb = tiff_claiming(30000, 30000)
    started = time.perf_counter()
    for _ in range(100):
        with contextlib.suppress(ImageDecodeError):
            decode_image(bomb)
    library_refusal_s = (time.perf_counter() - started) / 100
    zip_bomb = tiff_with_lying_strip(256 * MIB)
    tracemalloc.start()
    started = time.perf_counter()
    with contextlib.suppress(ImageDecodeError):
        decode_image(zip_bomb)
    zip_s = time.perf_counter() - started
    zip_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    connect_ray("", local_cpus=2)
    pool = WorkerPool.start(2, "efficientnet-lite0", cpu_threads=1)
    catalog = ModelCatalog.start(pool, "pretrained")
    server, port = create_server(
        "127.0.0.1:0",
        pool,
        catalog,
        batch_size=32,
        max_image_bytes=16 * MIB,
        security=ServerSecurity.insecure(),
    )
    server.start()
    stub = embedding_pb2_grpc.EmbeddingServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    query = query_image()

    def one_query() -> tuple[float, str]:
        return timed(lambda: list(stub.EmbedImages(stream([query]), timeout=10.0)))

    for _ in range(3):
        one_query()  # warm-up
    rss_before = pool.resident_bytes()
    grpc_refusals = [timed(lambda: list(stub.EmbedImages(stream([bomb]), timeout=10.0)))]
    grpc_refusals += [
        timed(lambda: list(stub.EmbedImages(stream([bomb]), timeout=10.0))) for _ in range(19)
    ]
    alone = [one_query() for _ in range(args.queries)]

    attacks = [
        [bomb],
        [png_header(20000, 20000)],
        [zip_bomb],
        [scene(2048)] * 84,  # 4 batches of 21: ~2 s per batch per worker, cut at 1 s
    ]
    stop = threading.Event()
    outcomes: Counter[str] = Counter()

    def attacker(index: int) -> None:
        turn = index
        while not stop.is_set():
            images = attacks[turn % len(attacks)]
            _, outcome = timed(
                lambda images=images: list(stub.EmbedImages(stream(images), timeout=1.0))
            )
            outcomes[outcome] += 1
            turn += 1

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(args.attackers)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    during = [one_query() for _ in range(args.queries)]
    stop.set()
    for thread in threads:
        thread.join()
    rss_after = pool.resident_bytes()
    server.stop(0)
    pool.close()

    def row(name: str, runs: list[tuple[float, str]]) -> str:
        seconds = [s * 1000 for s, _ in runs]
        failed = sum(1 for _, outcome in runs if outcome != "OK")
        return (
            f"| {name} | {len(runs)} | {statistics.median(seconds):.1f} |"
            f" {percentile(seconds, 95):.1f} | {max(seconds):.1f} | {failed} |"
        )

    refusal_ms = [s * 1000 for s, _ in grpc_refusals]
    codes = sorted({outcome for _, outcome in grpc_refusals})
    figures = [
        (
            "refuse a 30000 x 30000 TIFF header, library (mean of 100)",
            f"{library_refusal_s * 1e6:.0f} us",
        ),
        (
            "refuse it through gRPC (EmbedImages, 20 calls)",
            f"median {statistics.median(refusal_ms):.1f} ms, max {max(refusal_ms):.1f} ms, {codes}",
        ),
        (
            "refuse a zip-bomb TIFF (16 x 16 header, 256 MiB strip), library",
            f"{zip_s * 1000:.1f} ms, peak traced memory {zip_peak / MIB:.2f} MiB",
        ),
    ]
    for i, (was, now) in enumerate(zip(rss_before, rss_after, strict=True)):
        figures.append(
            (f"worker {i} resident memory before / after", f"{was / MIB:.0f} / {now / MIB:.0f} MiB")
        )
    figures.append(("attack calls by code", str(dict(sorted(outcomes.items())))))
    print("| figure | value |\n|---|---|")
    for name, value in figures:
        print(f"| {name} | {value} |")
    print()
    print("| one-image query (256 x 256 PNG) | n | p50 ms | p95 ms | max ms | failed |")
    print("|---|---|---|---|---|---|")
    print(row("alone", alone))
    print(row(f"during the attack ({args.attackers} attackers)", during))


if __name__ == "__main__":
    main()
