"""The helper that reads the service-to-service calls from the code finds the calls it must:
the NetworkPolicy checks rest on it, so it may not quietly return less."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from call_edges import (
    REPO,
    CallEdge,
    app_calls,
    app_stubs,
    calls_of_files,
    code_call_edges,
    rpc_methods,
    service_pairs,
)

# Calls the services are known to make (docs/architecture.md); the helper must find each one.
KNOWN = {
    ("retrieval", "embedding"): {"EmbedImages"},
    ("retrieval", "search"): {"Search", "GetIndexInfo"},
    ("coordinator", "selection"): {"StartRound"},
    ("coordinator", "labels"): {"CloseRound", "GetRoundProgress", "GetResolvedLabels"},
    ("coordinator", "search"): {"BuildIndex", "SwapIndex", "GetIndexInfo"},
    ("coordinator", "embedding"): {"LoadModel", "GetModelInfo", "EmbedImages"},
    ("selection", "search"): {"ExportVectors", "GetIndexInfo"},
    ("selection", "labels"): {"OpenRound", "ListPairs", "GetResolvedLabels", "GetRoundProgress"},
}


def test_finds_the_known_calls() -> None:
    edges = code_call_edges()
    for (caller, callee), methods in KNOWN.items():
        for method in methods:
            assert CallEdge(caller, callee, method) in edges, f"{caller} -> {callee}.{method}"


def test_every_found_method_is_an_rpc_of_its_callee(catalog: Any) -> None:
    methods = rpc_methods()
    assert set(methods) == set(catalog)
    assert all(methods.values()), "a service descriptor without methods"
    for edge in code_call_edges():
        assert edge.caller in catalog and edge.callee in catalog, edge
        assert edge.caller != edge.callee, edge
        assert edge.method in methods[edge.callee], edge


def test_only_service_packages_are_callers() -> None:
    callers = {edge.caller for edge in code_call_edges()}
    assert callers <= {"retrieval", "coordinator", "selection", "labels", "search", "embedding"}
    assert service_pairs() >= set(KNOWN)


# What the web app calls on the services' public ports (services/web/system_client.py).
WEB_KNOWN = {
    ("retrieval", "Retrieve"),
    ("selection", "ListPendingPairs"),
    ("labels", "SubmitLabels"),
    ("coordinator", "StartRound"),
    ("coordinator", "GetStatus"),
}


def test_the_web_app_calls_are_read_apart_from_the_service_edges() -> None:
    """services/web is no catalog service: its calls are a client's, with people's tokens."""
    calls = app_calls("web")
    assert calls >= WEB_KNOWN
    assert {callee for callee, _ in calls} == app_stubs("web")
    assert not any(edge.caller == "web" for edge in code_call_edges())


def test_every_stub_call_in_the_services_is_seen(catalog: Any) -> None:
    """No RPC-named call on a stub in a service package escapes the helper: each one there is
    an edge (or the service's own servicer method, which is a def, not a call)."""
    edges = code_call_edges()
    every_rpc = set().union(*rpc_methods().values())
    for name in catalog:
        for path in sorted((REPO / "services" / name).rglob("*.py")):
            if "Stub(" not in path.read_text():
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in every_rpc:
                    assert any(e.caller == name and e.method == node.attr for e in edges), (
                        f"{path.relative_to(REPO)}:{node.lineno}: {node.attr} is not an edge"
                    )


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "client.py"
    path.write_text(source)
    return path


def test_reads_stubs_in_their_usual_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "from annealpb.search.v1 import search_pb2_grpc\n"
        "from annealpb.labels.v1.labels_pb2_grpc import LabelServiceStub\n"
        "class C:\n"
        "    def __init__(self, ch, other):\n"
        "        self.search = search_pb2_grpc.SearchServiceStub(ch) if ch else None\n"
        "        self._labels = LabelServiceStub(other)\n"
        "    def run(self):\n"
        "        stub = self.search\n"
        "        stub.Search.future(None)\n"
        "        self._labels.OpenRound(None)\n"
        "        call = self._labels.ListPairs\n"
        "        return call\n",
    )
    assert calls_of_files([path]) == {
        ("search", "Search"),
        ("labels", "OpenRound"),
        ("labels", "ListPairs"),
    }


def test_an_rpc_name_on_an_unbound_receiver_goes_to_the_one_service_with_it(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "from annealpb.search.v1 import search_pb2_grpc\n"
        "def make(ch):\n"
        "    return search_pb2_grpc.SearchServiceStub(ch)\n"
        "def use(downstream):\n"
        "    return downstream.search.SwapIndex(None)\n",
    )
    assert calls_of_files([path]) == {("search", "SwapIndex")}


def test_refuses_to_guess_between_services(tmp_path: Path) -> None:
    """StartRound is an RPC of both selection and coordinator."""
    path = write(
        tmp_path,
        "from annealpb.selection.v1 import selection_pb2_grpc\n"
        "from annealpb.coordinator.v1 import coordinator_pb2_grpc\n"
        "def make(a, b):\n"
        "    return [selection_pb2_grpc.SelectionServiceStub(a),\n"
        "            coordinator_pb2_grpc.CoordinatorServiceStub(b)]\n"
        "def use(stubs):\n"
        "    return stubs[0].StartRound(None)\n",
    )
    with pytest.raises(ValueError, match="StartRound"):
        calls_of_files([path])
