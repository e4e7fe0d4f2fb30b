"""Each service's ``/metrics`` exports exactly the metrics docs/architecture.md gives it.

The registries are the ones the services' ``__main__`` serve (tests/metric_owners.py builds them
the same way); two of them are served over HTTP as a running service serves them.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from metric_owners import (
    EVERY_GRPC_SERVICE,
    OWNERS,
    WEB,
    documented_metrics,
    exported_metrics,
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
    assert grpc and (grpc <= set(exported)) == (owner != WEB)
    assert "process_start_time_seconds" in exported


def test_the_docs_give_each_metric_its_type_and_labels() -> None:
    documented = documented_metrics()
    exported: dict[str, tuple[str, frozenset[str]]] = {}
    for owner in OWNERS:
        exported.update(exported_metrics(served_registry(owner)))
    for name, row in documented.items():
        assert name in exported, f"{name} is documented but no service exports it"
        kind, _labels = exported[name]
        assert row.type == kind, f"{name}: docs say {row.type}, the code has a {kind}"
    undocumented = {n for n in exported if n.startswith(("anneal_", "grpc_"))} - set(documented)
    assert undocumented == set()


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        sample.name: [(s.labels, s.value) for s in family.samples if s.name == sample.name]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


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
