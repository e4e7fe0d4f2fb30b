"""Ingest throughput on CPU: archive images to stored backbone features, by number of Ray workers.

For each way of computing the features, over the same stratified sample of the archive (every
class alike) and a cold feature store each time (a new temporary folder): in this process
(``extract_features``, torch on all its threads: the baseline), then the Ray Data job
(``services/coordinator/ray_data_ingest.py``) with 1 and with 2 CPU actors of ``--cpu-threads``
threads each on a local Ray of ``--ray-cpus`` CPUs. Reports the wall time of the whole call
(for Ray: the Dataset's start and its actors' backbone loads included), how long until the first
batch was stored, images/s over the whole call, and images/s from the first stored batch to the
last (the rate the job keeps once it runs; with few batches per actor it is rough, as several
actors' batches arrive together). Prints a Markdown table.

    .venv/bin/python bench/ingest_throughput.py --archive ../shared/data/ucmerced --images 300
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from anneal.data.archive import Archive
from anneal.models.extract import Ingest, extract_features
from anneal.models.registry import build_backbone
from services.coordinator.ray_data_ingest import RayDataIngest
from services.embedding.ray_session import connect_ray

BACKBONE = "efficientnet-lite0"


@dataclass(frozen=True)
class Row:
    way: str
    images: int
    seconds: float
    first_batch_s: float | None
    steady_images_per_s: float | None

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


class Clock:
    """A progress callback noting when images were done, for the rate after the first batch."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def __call__(self, done: int, total: int) -> None:
        if done and (not self.marks or done > self.marks[-1][1]):
            self.marks.append((time.perf_counter(), done))

    def first(self, started: float) -> float | None:
        """Seconds from ``started`` to the first stored batch."""
        return self.marks[0][0] - started if self.marks else None

    def steady(self) -> float | None:
        """Images/s from the first stored batch to the last (None with fewer than 2)."""
        if len(self.marks) < 2:
            return None
        (t0, d0), (t1, d1) = self.marks[0], self.marks[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None


def sample(archive: Archive, count: int) -> Archive:
    """``count`` images spread evenly over the (class-sorted) archive."""
    rows = np.linspace(0, len(archive) - 1, num=min(count, len(archive))).round().astype(int)
    return Archive(archive.root, [archive.images[int(i)] for i in sorted(set(rows))])


def measure(way: str, ingest: Ingest, archive: Archive, batch: int) -> Row:
    backbone = build_backbone(BACKBONE)
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as store:
        started = time.perf_counter()
        extraction = ingest(archive, backbone, cache_dir=store, batch_size=batch, progress=clock)
        seconds = time.perf_counter() - started
    return Row(way, len(extraction.rows), seconds, clock.first(started), clock.steady())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default="../shared/data/ucmerced")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32, help="images per batch and shard")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cpu-threads", type=int, default=1, help="torch threads per actor")
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray")
    args = parser.parse_args()

    archive = sample(Archive.from_folder(args.archive), args.images)
    ways: list[tuple[str, Callable[[], Ingest]]] = [
        (f"in-process ({torch.get_num_threads()} threads)", lambda: extract_features)
    ]
    for workers in args.workers:
        ways.append(
            (
                f"Ray Data, {workers} CPU actor{'s' if workers > 1 else ''}"
                f" x {args.cpu_threads} thread{'s' if args.cpu_threads > 1 else ''}",
                lambda workers=workers: RayDataIngest(workers, BACKBONE, args.cpu_threads),
            )
        )
    rows = []
    for way, make in ways:
        if way.startswith("Ray"):
            connect_ray("", local_cpus=args.ray_cpus)
        rows.append(measure(way, make(), archive, args.batch))
        print(f"done: {way}", flush=True)

    print(
        f"\n{len(archive)} images of {args.archive} ({BACKBONE}, batches of {args.batch},"
        f" cold store each; local Ray of {args.ray_cpus} CPUs)\n"
    )
    print("| way | images | wall s | first batch s | images/s | images/s after the first batch |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        first = f"{row.first_batch_s:.1f}" if row.first_batch_s is not None else "-"
        steady = f"{row.steady_images_per_s:.1f}" if row.steady_images_per_s else "-"
        print(
            f"| {row.way} | {row.images} | {row.seconds:.1f} | {first} |"
            f" {row.images_per_s:.1f} | {steady} |"
        )


if __name__ == "__main__":
    main()
