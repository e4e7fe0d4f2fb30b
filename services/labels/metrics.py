"""The labels service's metrics (owner: labels, docs/architecture.md), counted at the commit."""

from prometheus_client import Counter
from prometheus_client.registry import Collector

LABELLED_PAIRS = Counter(
    "anneal_labelled_pairs_total",
    "Pairs that received their first label (counted once, when the label store commits it).",
    registry=None,
)
LABEL_STORE_WRITE_ERRORS = Counter(
    "anneal_label_store_write_errors_total", "Label writes that failed to commit.", registry=None
)
COLLECTORS: tuple[Collector, ...] = (LABELLED_PAIRS, LABEL_STORE_WRITE_ERRORS)
