"""Embedding throughput through the gRPC embedding service, by number of Ray workers.

Streams a stratified sample of the archive (every class alike) as encoded bytes to the
embedding service running in this process on a local Ray, for each pool shape, after one
warm-up pass. Reports images/s end to end, and the worker time per image split into decoding
(bytes -> RGB array) and the model (resize + backbone + head), so the pipeline's limit shows.
Also measures the same two stages in this process on one thread, as a floor. Prints a Markdown
table.

    .venv/bin/python bench/embedding_throughput.py --archive ../shared/data/ucmerced \
        --images 420 --pools 1x1 2x1 1x2
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import torch

from anneal.data.archive import Archive
from anneal.data.image_io import decode_image
from anneal.models.embedding_model import EmbeddingModel
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.embedding.model_catalog import ModelCatalog
from services.embedding.ray_session import connect_ray
from services.embedding.server import create_server
from services.embedding.worker_pool import WorkerPool
from services.security.server_security import ServerSecurity

BACKBONE = "efficientnet-lite0"

INSECURE = ServerSecurity.insecure()


@dataclass(frozen=True)
class Row:
    pool: str
    images: int
    images_per_s: float
    decode_ms: float
    model_ms: float


def sample(archive: Archive, count: int) -> list[tuple[str, bytes]]:
    """``count`` images spread evenly over the (class-sorted) archive, as (id, bytes)."""
    rows = np.linspace(0, len(archive) - 1, num=min(count, len(archive))).round().astype(int)
    return [(archive.images[i].id, archive.images[i].path.read_bytes()) for i in rows]


def requests(images: list[tuple[str, bytes]]):
    yield embedding_pb2.EmbedImagesRequest(options=embedding_pb2.EmbedOptions())
    for image_id, data in images:
        chunk = embedding_pb2.ImageChunk(image_id=image_id, data=data, last=True)
        yield embedding_pb2.EmbedImagesRequest(chunk=chunk)


def through_service(shape: str, images: list[tuple[str, bytes]], batch_size: int) -> Row:
    """Images/s of one pool shape ("WxT": W workers of T threads each)."""
    workers, threads = (int(part) for part in shape.split("x"))
    pool = WorkerPool.start(workers, BACKBONE, cpu_threads=threads)
    try:
        catalog = ModelCatalog.start(pool, "pretrained")
        server, port = create_server(
            "127.0.0.1:0", pool, catalog, batch_size=batch_size, security=INSECURE
        )
        server.start()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
            list(stub.EmbedImages(requests(images[: 2 * workers * batch_size])))  # warm-up
            before = pool.totals()
            started = time.perf_counter()
            count = sum(len(r.embeddings) for r in stub.EmbedImages(requests(images)))
            seconds = time.perf_counter() - started
            after = pool.totals()
        server.stop(None).wait()
    finally:
        pool.close()
    done = after.images - before.images
    return Row(
        pool=f"{workers} worker(s) x {threads} thread(s)",
        images=count,
        images_per_s=count / seconds,
        decode_ms=1000 * (after.decode_seconds - before.decode_seconds) / done,
        model_ms=1000 * (after.model_seconds - before.model_seconds) / done,
    )


def in_process(images: list[tuple[str, bytes]], batch_size: int) -> Row:
    """Decode and model time per image in this process on one torch thread (no service)."""
    torch.set_num_threads(1)
    model = EmbeddingModel.create(BACKBONE)
    model.embed_images([decode_image(images[0][1])])  # warm-up
    started = time.perf_counter()
    arrays = [decode_image(data) for _, data in images]
    decoded = time.perf_counter()
    for start in range(0, len(arrays), batch_size):
        model.embed_images(arrays[start : start + batch_size])
    finished = time.perf_counter()
    return Row(
        pool="in-process, 1 thread, no gRPC/Ray",
        images=len(images),
        images_per_s=len(images) / (finished - started),
        decode_ms=1000 * (decoded - started) / len(images),
        model_ms=1000 * (finished - decoded) / len(images),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=Path("../shared/data/ucmerced"))
    parser.add_argument("--images", type=int, default=420, help="images per measurement")
    parser.add_argument("--pools", nargs="+", default=["1x1", "2x1", "1x2"], help="WxT shapes")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    images = sample(Archive.from_folder(args.archive), args.images)
    print(
        f"{len(images)} images from {args.archive}, {os.cpu_count()} CPUs, batch {args.batch_size}"
    )
    connect_ray("", local_cpus=os.cpu_count())
    rows = [through_service(shape, images, args.batch_size) for shape in args.pools]
    rows.append(in_process(images, args.batch_size))
    print()
    print("| pool | images | images/s | decode ms/img | model ms/img | decode share |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        share = row.decode_ms / (row.decode_ms + row.model_ms)
        print(
            f"| {row.pool} | {row.images} | {row.images_per_s:.1f} | {row.decode_ms:.2f}"
            f" | {row.model_ms:.1f} | {share:.0%} |"
        )


if __name__ == "__main__":
    main()
