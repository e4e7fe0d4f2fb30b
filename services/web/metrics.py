"""The web app's metrics (owner: web, docs/architecture.md): HTTP requests by route template."""

from prometheus_client import Counter, Histogram
from prometheus_client.registry import Collector

WEB_REQUESTS = Counter(
    "anneal_web_requests_total",
    "HTTP requests to the web app.",
    ["route", "method", "status"],
    registry=None,
)
WEB_REQUEST_SECONDS = Histogram(
    "anneal_web_request_seconds",
    "Time to answer an HTTP request of the web app.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)
COLLECTORS: tuple[Collector, ...] = (WEB_REQUESTS, WEB_REQUEST_SECONDS)
