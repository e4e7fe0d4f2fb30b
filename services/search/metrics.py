"""The search service's metrics (owner: search, docs/architecture.md): the serving version and
the rebuilds (their time, failures and recall), counted where a build runs and fails."""

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import Collector

INDEX_VERSION = Gauge(
    "anneal_index_version", "Version of the index serving queries (0: none yet).", registry=None
)
INDEX_REBUILD_SECONDS = Histogram(
    "anneal_index_rebuild_seconds",
    "Time to build, load and verify a new index version.",
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=None,
)
INDEX_REBUILD_FAILURES = Counter(
    "anneal_index_rebuild_failures_total",
    "Index builds that failed in Milvus (the old index kept serving).",
    registry=None,
)
INDEX_BUILD_RECALL = Gauge(
    "anneal_index_build_recall",
    "recall@20 against exact search measured at the last index build, refused ones included"
    " (1 for FLAT; 0: none yet).",
    registry=None,
)
COLLECTORS: tuple[Collector, ...] = (
    INDEX_VERSION,
    INDEX_REBUILD_SECONDS,
    INDEX_REBUILD_FAILURES,
    INDEX_BUILD_RECALL,
)
