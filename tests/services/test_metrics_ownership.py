"""Each service's ``/metrics`` exports exactly the metrics docs/architecture.md gives it.

The registries are built as the services' ``__main__`` build them (tests/metric_owners.py); two
are served over HTTP in this process, and two services are started as processes and scraped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from metric_owners import (
    EVERY_GRPC_SERVICE,
    LABELSTUDIO,
    OWNERS,
    REPO,
    WEB,
    documented_metrics,
    exported_metrics,
    owned_series,
    served_registry,
)
from prometheus_client.parser import text_string_to_metric_families
from search_helpers import IDS, META, VECTORS

from services.common.metrics import grpc_service_registry, start_metrics_server
from services.coordinator.metrics import COLLECTORS as COORDINATOR_COLLECTORS
from services.search.batcher import SearchBatcher
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.metrics import COLLECTORS as SEARCH_COLLECTORS
from services.search.servicer import SearchServicer


@pytest.mark.parametrize("owner", OWNERS)
def test_a_service_exports_the_domain_metrics_the_docs_give_it_and_no_other(owner: str) -> None:
    documented = documented_metrics()
    owns = {name for name, row in documented.items() if row.owner == owner}
    exported = exported_metrics(served_registry(owner))
    assert {n for n in exported if n.startswith("anneal_")} == owns
    grpc = {name for name, row in documented.items() if row.owner == EVERY_GRPC_SERVICE}
    assert grpc and (grpc <= set(exported)) == (owner not in (WEB, LABELSTUDIO))
    assert "process_start_time_seconds" in exported


def test_the_docs_give_each_metric_its_type_and_labels() -> None:
    documented = documented_metrics()
    exported: dict[str, str] = {}
    for owner in OWNERS:
        exported.update(exported_metrics(served_registry(owner)))
    series = owned_series()
    for name, row in documented.items():
        assert name in exported, f"{name} is documented but no service exports it"
        assert row.type == exported[name], f"{name}: docs say {row.type}, not {exported[name]}"
        labels = series[name if name in series else f"{name}_count"][1] - {"le"}
        assert row.labels == labels, f"{name}: docs say labels {set(row.labels)}, not {labels}"
    undocumented = {n for n in exported if n.startswith(("anneal_", "grpc_"))} - set(documented)
    assert undocumented == set()


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Metric name as documented (counters with ``_total``) -> its samples of that name; the
    ``*_created`` gauges (the text format's creation times of counters and histograms) left out."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        found[name] = [(s.labels, s.value) for s in family.samples if s.name == name]
    return found


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[IndexManager]:
    opened = IndexManager.open(str(tmp_path / "milvus.db"), IndexConfig())
    yield opened
    opened.close(timeout_s=5)


def test_only_the_search_endpoint_says_which_index_version_serves(manager: IndexManager) -> None:
    manager.build(4, IDS, VECTORS, META)
    manager.swap(4)
    batcher = SearchBatcher(manager.search)
    SearchServicer(manager, batcher)  # publishes the serving version, as at start-up
    batcher.close()
    search_port = start_metrics_server(grpc_service_registry(SEARCH_COLLECTORS), 0)
    coordinator_port = start_metrics_server(grpc_service_registry(COORDINATOR_COLLECTORS), 0)
    search, coordinator = scrape(search_port), scrape(coordinator_port)
    assert search["anneal_index_version"] == [({}, 4.0)]
    assert "anneal_index_version" not in coordinator
    assert "anneal_round" in coordinator and "anneal_round" not in search
    assert "anneal_labelled_pairs_total" not in coordinator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape_when_up(process: subprocess.Popen[bytes], port: int, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return scrape(port)
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, "the service exited"
            assert time.monotonic() < deadline, "no /metrics in time"
            time.sleep(0.2)


@pytest.mark.parametrize(
    ("service", "setting"),
    [("labels", "ANNEAL_LABEL_DB=labels.db"), ("search", "ANNEAL_MILVUS_URI=milvus.db")],
)
def test_a_started_service_serves_its_own_metrics(
    service: str, setting: str, tmp_path: Path
) -> None:
    name, value = setting.split("=")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNEAL_")}
    env.update({name: str(tmp_path / value), "ANNEAL_INSECURE": "true"})
    port = free_port()
    command = [sys.executable, "-m", f"services.{service}", "--port", "0"]
    with (tmp_path / "log").open("w") as log:
        process = subprocess.Popen(
            [*command, "--metrics-port", str(port)], cwd=REPO, env=env, stderr=log
        )
    try:
        exported = scrape_when_up(process, port)
    finally:
        process.terminate()
        process.wait(timeout=30)
    owns = {n for n, row in documented_metrics().items() if row.owner == service}
    assert {n for n in exported if n.startswith("anneal_")} == owns
    assert "process_start_time_seconds" in exported
