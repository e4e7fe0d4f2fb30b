"""Time to build the candidate pool and select 100 pairs on synthetic archives.

    .venv/bin/python bench/selection_scaling.py --sizes 10000,100000 --dim 1280

Synthetic embeddings: 50 Gaussian clusters on the unit sphere (so neighbours mean something);
200 labelled pairs (half inside a cluster) let the threshold and the classifier train.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from anneal.al.pool import PoolBuilder
from anneal.al.strategies import make_selector


def synthetic(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(50, dim)).astype(np.float32)
    labels = rng.integers(50, size=n)
    x = centres[labels] + rng.normal(scale=1.5, size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--strategies", default="mgue,bcgue")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| archive | strategy | pool pairs | pool s | selection s | total s |")
    print("|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        emb, labels = synthetic(n, args.dim, rng)
        same = rng.choice(np.flatnonzero(labels == labels[0]), 101, replace=False)
        labelled = np.concatenate(
            [np.stack([same[:-1], same[1:]], 1), rng.integers(n, size=(100, 2))]
        )
        labelled = np.sort(labelled, axis=1)
        similar = labels[labelled[:, 0]] == labels[labelled[:, 1]]
        for strategy in args.strategies.split(","):
            selector = make_selector(strategy, PoolBuilder())
            t = time.perf_counter()
            sel = selector.select(emb, labelled, similar, args.budget, np.random.default_rng(1))
            total = time.perf_counter() - t
            print(
                f"| {n:,} x {args.dim} | {strategy} | {sel.pool_size:,} | "
                f"{sel.seconds['pool']:.1f} | {sel.seconds['selection']:.1f} | {total:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
