"""ANN index against FLAT on synthetic clustered vectors: build time, recall@20, search p50.

Builds each index through the search service's IndexManager (insert, flush, index, load,
verify and, for an ANN index, the recall measured at build: services/search/build_recall.py),
then times single-vector top-20 searches of held-out vectors from the same clusters. Milvus Lite
(unless ``--lite no``) and, given ``--server-uri``, a Milvus server each get FLAT, IVF_FLAT (the
by-size default) and HNSW, with the default params of services/search/index_choice.py. Prints
a Markdown table.

    .venv/bin/python bench/ann_recall.py [--rows 100000 --dim 128 --spread 1.5]
        [--server-uri http://127.0.0.1:19530] [--lite no] [--types HNSW]
        [--search-params '{"ef": 128}']

``--types`` picks the index types (default all three); ``--search-params`` replaces the ANN
types' default search params (the index's build params stay the defaults).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from services.search.index_choice import ANN_DEFAULTS
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager

SEED = 7
CENTRES = 1000
QUERIES = 200
K = 20


def clustered(rows: int, dim: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    """``rows`` L2-normalised vectors around CENTRES random centres (``spread``: the noise's
    standard deviation per axis against the centres' 1), like embeddings of many classes."""
    centres = rng.normal(size=(CENTRES, dim))
    points = centres[rng.integers(0, CENTRES, rows)] + spread * rng.normal(size=(rows, dim))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def case(
    uri: str,
    index_type: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    prefix: str,
    search: Mapping[str, int | float | str],
) -> tuple[float, float, float, float]:
    """(build s, recall@20 measured at build, search p50 ms, p99 ms) of one index type."""
    build, _ = ANN_DEFAULTS.get(index_type, ({}, {}))
    config = IndexConfig(
        index_type=index_type,
        build_params=build,
        search_params=search,
        recall_floor=0.0,
        prefix=prefix,
        milvus_timeout_s=3600,
    )
    manager = IndexManager.open(uri, config)
    try:
        ids = [f"img{i:07d}" for i in range(len(vectors))]
        started = time.perf_counter()
        built = manager.build(1, ids, vectors)
        seconds = time.perf_counter() - started
        manager.swap(1)
        latencies = []
        for query in queries:
            began = time.perf_counter()
            manager.search(query, K)
            latencies.append((time.perf_counter() - began) * 1000)
        p50, p99 = np.percentile(latencies, [50, 99])
        recall = 1.0 if built.recall is None else built.recall
        return seconds, recall, float(p50), float(p99)
    finally:
        manager.close(timeout_s=30)


def params_text(params: Mapping[str, int | float | str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in params.items()) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--spread", type=float, default=1.0, help="cluster noise, 1 = centres'")
    parser.add_argument("--lite", choices=["yes", "no"], default="yes", help="Milvus Lite cases")
    parser.add_argument("--server-uri", default="", help="a Milvus server, e.g. http://host:19530")
    parser.add_argument("--types", default="FLAT,IVF_FLAT,HNSW", help="comma-separated")
    parser.add_argument("--search-params", default="", help="JSON, for the ANN types")
    args = parser.parse_args()
    types = [t.strip().upper() for t in args.types.split(",") if t.strip()]
    override = json.loads(args.search_params) if args.search_params else None

    def search_params(index_type: str) -> Mapping[str, int | float | str]:
        default = ANN_DEFAULTS.get(index_type, ({}, {}))[1]
        return override if override is not None and index_type in ANN_DEFAULTS else default

    rng = np.random.default_rng(SEED)
    vectors = clustered(args.rows + QUERIES, args.dim, args.spread, rng)
    vectors, queries = vectors[: args.rows], vectors[args.rows :]
    targets = [("Milvus Lite", t) for t in types if args.lite == "yes"]
    if args.server_uri:
        targets += [("Milvus server", t) for t in types]
    print(f"{args.rows:,} x {args.dim} vectors, {CENTRES} clusters, spread {args.spread:g}, IP\n")
    print(
        "| store | index | build params | search params | build s | recall@20 | p50 ms | p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for position, (store, index_type) in enumerate(targets):
            uri = (
                str(Path(workdir) / f"lite{position}.db")
                if store == "Milvus Lite"
                else args.server_uri
            )
            search = search_params(index_type)
            seconds, recall, p50, p99 = case(
                uri, index_type, vectors, queries, f"bench_ann{position}", search
            )
            build, _ = ANN_DEFAULTS.get(index_type, ({}, {}))
            print(
                f"| {store} | {index_type} | {params_text(build)} | {params_text(search)} |"
                f" {seconds:.1f} | {recall:.3f} | {p50:.2f} | {p99:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
