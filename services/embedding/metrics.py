"""The embedding service's metrics (owner: embedding, docs/architecture.md): its worker pool."""

from prometheus_client import Gauge
from prometheus_client.registry import Collector

EMBEDDING_IMAGES_PER_SECOND = Gauge(
    "anneal_embedding_images_per_second",
    "Recent embedding throughput of the worker pool.",
    registry=None,
)
EMBEDDING_WORKERS_READY = Gauge(
    "anneal_embedding_workers_ready",
    "Embedding workers (Ray actors) ready to take batches.",
    registry=None,
)
COLLECTORS: tuple[Collector, ...] = (EMBEDDING_IMAGES_PER_SECOND, EMBEDDING_WORKERS_READY)
