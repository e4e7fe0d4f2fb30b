"""The metric table of docs/architecture.md, and the registry each service really serves.

Shared by tests/services/test_metrics_ownership.py (each service exports what the table gives
it) and tests/k8s/test_k8s_promql.py (each query reads a metric from its owner).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.common.catalog import SERVICES
from services.common.metrics import GRPC_COLLECTORS, grpc_service_registry, metrics_registry

REPO = Path(__file__).resolve().parents[1]
EVERY_GRPC_SERVICE = "every gRPC service"
EVERY_SERVICE = "every service"
WEB = "web"
LABELSTUDIO = "labelstudio"
"""The Label Studio bridge: an HTTP process like the web app (docs/labelstudio.md)."""
OWNERS = (*SERVICES, WEB, LABELSTUDIO)
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


@dataclass(frozen=True)
class DocumentedMetric:
    name: str
    type: str
    labels: frozenset[str]
    owner: str


def documented_metrics() -> dict[str, DocumentedMetric]:
    """Name -> row of the metric table (the rows naming one metric, in backticks)."""
    text = (REPO / "docs/architecture.md").read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, DocumentedMetric] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        name = cells[0].strip("`")
        labels = frozenset(re.findall(r"`(\w+)`", cells[2]))
        rows[name] = DocumentedMetric(name, cells[1], labels, cells[3])
    assert rows, "docs/architecture.md has no metric table"
    return rows


def domain_collectors(owner: str) -> tuple:
    """``services/<owner>/metrics.py``'s COLLECTORS; () for a service without that module."""
    module = f"services.{owner}.metrics"
    if importlib.util.find_spec(module) is None:
        return ()
    return tuple(importlib.import_module(module).COLLECTORS)


def served_registry(owner: str) -> CollectorRegistry:
    """The registry ``owner``'s ``/metrics`` serves, built as its ``__main__`` builds it."""
    if owner in (WEB, LABELSTUDIO):
        return metrics_registry(domain_collectors(owner))
    return grpc_service_registry(domain_collectors(owner))


def exported_metrics(registry: CollectorRegistry) -> dict[str, str]:
    """Metric name as documented (counters with ``_total``) -> its type."""
    return {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in registry.collect()
    }


def _samples(collector: object) -> list[tuple[str, frozenset[str]]]:
    """(sample name, label names) of each sample a prometheus_client metric object writes."""
    labels = frozenset(getattr(collector, "_labelnames", ()))
    return [
        (family.name + suffix, labels | ({"le"} if suffix == "_bucket" else set()))
        for family in collector.describe()  # type: ignore[attr-defined]
        for suffix in SAMPLE_SUFFIXES[family.type]
    ]


def owned_series() -> dict[str, tuple[str, frozenset[str]]]:
    """Sample name -> (owner, label names) for every domain and gRPC metric, and the process
    start time (the restart signal)."""
    series = {
        sample: (owner, labels)
        for owner in OWNERS
        for collector in domain_collectors(owner)
        for sample, labels in _samples(collector)
    }
    for collector in GRPC_COLLECTORS:
        series.update({s: (EVERY_GRPC_SERVICE, labels) for s, labels in _samples(collector)})
    series["process_start_time_seconds"] = (EVERY_SERVICE, frozenset())
    return series
