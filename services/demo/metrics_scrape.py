"""Reads one gauge from a service's Prometheus ``/metrics`` page."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def gauge_value(url: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of ``name{labels}`` at ``url``, None when absent."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
