"""How far the stable per-image split strays from stratified, per class.

For a synthetic archive of `--classes` x `--per-class` ids (UC Merced's shape by default), over
`--seeds` split seeds: the largest per-class deviation |queries - fraction * n| in images
(median, 95th percentile, max over seeds) and the share of seeds where some class is beyond the
documented tolerance (anneal.data.split.class_tolerance). With `--archive FOLDER`, the same for
that labelled archive's real ids on seeds 0-4.

    .venv/bin/python bench/split_balance.py [--archive ../shared/data/ucmerced]
"""

from __future__ import annotations

import argparse

import numpy as np

from anneal.data.archive import Archive
from anneal.data.split import class_tolerance, stable_split


def deviation(ids: list[str], labels: np.ndarray, fraction: float, seed: int) -> tuple[int, float]:
    """(number of queries, largest per-class deviation in images) for one split seed."""
    split = stable_split(ids, fraction, seed)
    sizes = np.bincount(labels)
    queries = np.bincount(labels[split.queries], minlength=len(sizes))
    return len(split.queries), float(np.abs(queries - fraction * sizes).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--archive", default=None)
    args = parser.parse_args()
    names = [f"class{c:02d}" for c in range(args.classes)]
    ids = [f"{n}/{n}{i:03d}.tif" for n in names for i in range(args.per_class)]
    labels = np.repeat(np.arange(args.classes), args.per_class)
    tolerance = class_tolerance(args.per_class, args.fraction)
    devs = np.array([deviation(ids, labels, args.fraction, s)[1] for s in range(args.seeds)])
    print(
        f"synthetic {args.classes} x {args.per_class}, fraction {args.fraction}, "
        f"{args.seeds} seeds: max per-class deviation median {np.median(devs):.0f}, "
        f"p95 {np.percentile(devs, 95):.0f}, max {devs.max():.0f} images; tolerance "
        f"{tolerance:.1f}; seeds with a class beyond it {100 * (devs > tolerance).mean():.1f}%"
    )
    if args.archive:
        archive = Archive.from_folder(args.archive)
        for seed in range(5):
            count, dev = deviation(archive.ids, archive.labels(), args.fraction, seed)
            print(f"{args.archive} seed {seed}: {count} queries, max deviation {dev:.0f} images")


if __name__ == "__main__":
    main()
