"""The PromQL of the alerts and the dashboard parses and asks only for what the services export.

Queries are parsed by ``promql_parser`` (the Rust parser of the PromQL grammar). Metric names,
their label names and their owners come from the collectors each service's ``/metrics`` serves
(tests/metric_owners.py); every selector must read its metric from the owner's job, so nothing
is counted twice. gRPC service and method label values come from the catalog and the protos,
round states from the coordinator's ``RoundState`` enum. test_k8s_promtool.py checks the same
rules with Prometheus's own promtool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import promql_parser
import pytest
from k8s_manifests import REPO, Obj, named, render
from metric_owners import EVERY_GRPC_SERVICE, EVERY_SERVICE, OWNERS, owned_series

# Grafana's interval macros, replaced by a value of the same type before parsing.
GRAFANA_MACROS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# Labels Prometheus adds to every scraped series (Prometheus Operator's ServiceMonitor targets).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
SCRAPE_SERIES = {"up": (EVERY_SERVICE, frozenset())}
"""Written by Prometheus itself for every target it scrapes."""


@cache
def exported_series() -> dict[str, tuple[str, frozenset[str]]]:
    """Sample name -> (owner, label names), for every metric a service or a scrape writes."""
    return {**owned_series(), **SCRAPE_SERIES}


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every alert and dashboard query of every overlay."""
    for overlay in ("dev", "prod"):
        objects = render(overlay)
        rule = named(objects, "PrometheusRule", "anneal")
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                yield f"{overlay} alert {r['alert']}", r["expr"]
        (text,) = named(objects, "ConfigMap", "anneal-grafana-dashboard")["data"].values()
        for panel in json.loads(text)["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for macro, value in GRAFANA_MACROS.items():
                    expr = expr.replace(macro, value)
                yield f"{overlay} panel {panel['title']!r} {target['refId']}", expr


QUERIES = sorted(set(queries()))


def selectors(expr: Any) -> list[Any]:
    found: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(expr, visit)
    return found


def matchers(selector: Any) -> list[Any]:
    return list(selector.matchers.matchers)


def metric_name(selector: Any) -> str:
    names = [m.value for m in matchers(selector) if m.name == "__name__"]
    name = selector.name or (names[0] if names else None)
    assert name, f"selector {selector} names no metric"
    return str(name)


def alternatives(matcher: Any) -> list[str]:
    """The values a matcher accepts: one for '=', the '|' alternatives of a plain regex."""
    value = str(matcher.value)
    return value.split("|") if matcher.op == promql_parser.MatchOp.Re else [value]


@pytest.mark.parametrize(("where", "query"), QUERIES, ids=[w for w, _ in QUERIES])
def test_query_parses(where: str, query: str) -> None:
    assert "$" not in query, f"{where}: unreplaced Grafana variable"
    promql_parser.parse(query)


@pytest.mark.parametrize(("where", "query"), QUERIES, ids=[w for w, _ in QUERIES])
def test_query_uses_exported_metrics_and_labels(where: str, query: str) -> None:
    series = exported_series()
    found = selectors(promql_parser.parse(query))
    assert found, f"{where}: reads no metric"
    for selector in found:
        name = metric_name(selector)
        assert name in series, f"{where}: {name} is exported by no service"
        for m in matchers(selector):
            known = series[name][1] | TARGET_LABELS | {"__name__"}
            assert m.name in known, f"{where}: {name} has no label {m.name!r}"


def owner_jobs(owner: str) -> set[str]:
    """The jobs (Kubernetes Service names) that export a metric of ``owner``."""
    if owner == EVERY_SERVICE:
        return set(OWNERS)
    if owner == EVERY_GRPC_SERVICE:
        return set(OWNERS) - {"web"}
    return {owner}


@pytest.mark.parametrize(("where", "query"), QUERIES, ids=[w for w, _ in QUERIES])
def test_query_reads_each_metric_from_its_owners_job(where: str, query: str, catalog: Any) -> None:
    series = exported_series()
    for selector in selectors(promql_parser.parse(query)):
        name = metric_name(selector)
        jobs = [alternatives(m) for m in matchers(selector) if m.name == "job" and m.op in POSITIVE]
        assert jobs, f"{where}: {name} is read without a job matcher (owner: {series[name][0]})"
        (named_jobs,) = jobs
        assert set(named_jobs) <= owner_jobs(series[name][0]), f"{where}: {name} from {named_jobs}"
        grpc_services = [alternatives(m) for m in matchers(selector) if m.name == "grpc_service"]
        for service in (s for names in grpc_services for s in names):
            owners = {n for n, spec in catalog.items() if spec.full_service_name == service}
            assert set(named_jobs) <= owners, f"{where}: {service} is not served by {named_jobs}"


@cache
def proto_rpcs() -> dict[str, set[str]]:
    """Full gRPC service name -> its RPC names, from protos/."""
    rpcs: dict[str, set[str]] = {}
    for proto in (REPO / "protos").rglob("*.proto"):
        text = proto.read_text()
        package = re.search(r"^package\s+([\w.]+);", text, re.MULTILINE)
        for service, body in re.findall(r"^service\s+(\w+)\s*\{(.*?)^\}", text, re.M | re.S):
            full = f"{package.group(1)}.{service}" if package else service
            rpcs[full] = set(re.findall(r"^\s*rpc\s+(\w+)", body, re.MULTILINE))
    return rpcs


POSITIVE = (promql_parser.MatchOp.Equal, promql_parser.MatchOp.Re)


def label_values(query: str, label: str) -> Iterator[tuple[Obj, list[str]]]:
    for selector in selectors(promql_parser.parse(query)):
        values = {m.name: alternatives(m) for m in matchers(selector) if m.op in POSITIVE}
        yield values, values.get(label, [])


def test_grpc_labels_name_real_services_and_methods(catalog: Any) -> None:
    services = {spec.full_service_name for spec in catalog.values()}
    rpcs = proto_rpcs()
    checked = 0
    for where, query in QUERIES:
        for values, names in label_values(query, "grpc_service"):
            for service in names:
                assert service in services, f"{where}: unknown grpc_service {service}"
                for method in values.get("grpc_method", []):
                    checked += 1
                    assert method in rpcs.get(service, set()), f"{where}: {service}/{method}"
    assert checked, "no query names a gRPC method"


def test_round_states_are_coordinator_states() -> None:
    text = (REPO / "protos/annealpb/coordinator/v1/coordinator.proto").read_text()
    enum = re.search(r"enum RoundState \{(.*?)\}", text, re.S)
    assert enum, "coordinator.proto has no RoundState enum"
    states = {s.lower() for s in re.findall(r"ROUND_STATE_(\w+)\s*=", enum.group(1))}
    used = [
        (where, state)
        for where, query in QUERIES
        for _, names in label_values(query, "state")
        for state in names
    ]
    assert used
    for where, state in used:
        assert state in states, f"{where}: round state {state!r} is not one of {sorted(states)}"
