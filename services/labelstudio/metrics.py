"""The bridge's metrics (owner: labelstudio, docs/architecture.md)."""

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import Collector

REFUSED = Counter(
    "anneal_labelstudio_refused_total",
    "Events and annotations the Label Studio bridge refused, by reason.",
    ["reason"],
    registry=None,
)
LABELS_PUSHED = Counter(
    "anneal_labelstudio_labels_total",
    "Answers the Label Studio bridge stored in or withdrew from the label service.",
    ["change"],
    registry=None,
)
WEBHOOKS = Counter(
    "anneal_labelstudio_webhooks_total",
    "Webhook deliveries received from Label Studio, by HTTP status answered.",
    ["status"],
    registry=None,
)
SYNC_SECONDS = Histogram(
    "anneal_labelstudio_sync_seconds",
    "Time of one sync pass of the Label Studio bridge (rounds, pull, links).",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=None,
)
SYNC_FAILURES = Counter(
    "anneal_labelstudio_sync_failures_total",
    "Sync passes that stopped on an error (Label Studio or the label service away).",
    registry=None,
)
LAST_SYNC = Gauge(
    "anneal_labelstudio_last_sync_timestamp_seconds",
    "Unix time of the last sync pass that finished.",
    registry=None,
)
COLLECTORS: tuple[Collector, ...] = (
    REFUSED,
    LABELS_PUSHED,
    WEBHOOKS,
    SYNC_SECONDS,
    SYNC_FAILURES,
    LAST_SYNC,
)
