"""Which service calls which RPC of which other service, read from the services' source.

Shared by the checks that must agree with the code rather than with a hand-written list: the
NetworkPolicies (tests/k8s) and the access policy (tests/security). ``tests/conftest.py`` puts
this folder on ``sys.path``, so a test imports it as ``from call_edges import ...``.

The source of every ``services/<name>/`` package of a catalog service (the pods; ``services/cli``
and ``services/demo`` are external clients) is parsed with :mod:`ast`:

* a *stub* is a call of ``<x>_pb2_grpc.<Svc>ServiceStub(...)`` (or of a ``...Stub`` name
  imported from a ``*_pb2_grpc`` module), mapped to the catalog service whose ``grpc_service``
  is ``<Svc>Service``;
* a stub is *bound* to what it is assigned to (``self._stub = ...Stub(channel)``, also inside
  ``X(...) if c else None``), and to names assigned from a bound name (``stub = self.search``);
* a *call edge* is an attribute ``<bound>.<Method>`` where ``Method`` is an RPC of that callee,
  by the service descriptors of the generated ``annealpb`` modules. ``stub.Search(...)``,
  ``stub.Search.future(...)`` and ``stub.Search`` passed as a callable all count.

An RPC name used on something that is not a bound stub, in a file that constructs stubs, is
attributed to the one constructed callee that has that method; if several have it, the helper
raises instead of guessing, so a change in the code cannot make an edge disappear silently.
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVICES_DIR = REPO / "services"


@dataclass(frozen=True, order=True)
class CallEdge:
    """``caller`` (a service's pod) calls RPC ``method`` of service ``callee``."""

    caller: str
    callee: str
    method: str


def catalog() -> Mapping[str, Any]:
    """``services.common.catalog.SERVICES``."""
    from services.common.catalog import SERVICES

    return SERVICES


@functools.cache
def rpc_methods() -> dict[str, frozenset[str]]:
    """Catalog service name -> the RPC names its generated service descriptor declares."""
    methods: dict[str, frozenset[str]] = {}
    for name, spec in catalog().items():
        module = importlib.import_module(f"annealpb.{name}.v1.{name}_pb2")
        descriptor = module.DESCRIPTOR.services_by_name[spec.grpc_service]
        methods[name] = frozenset(method.name for method in descriptor.methods)
    return methods


def _service_by_stub() -> dict[str, str]:
    """``LabelServiceStub`` -> ``labels``."""
    return {f"{spec.grpc_service}Stub": name for name, spec in catalog().items()}


def _grpc_imports(tree: ast.Module) -> set[str]:
    """Names imported straight from a ``*_pb2_grpc`` module (``from x_pb2_grpc import YStub``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("_pb2_grpc"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _stub_callee(node: ast.AST, direct: set[str]) -> str | None:
    """The catalog service whose stub ``node`` constructs, else None."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    stubs = _service_by_stub()
    if isinstance(func, ast.Attribute) and func.attr in stubs:
        module = func.value
        if isinstance(module, ast.Name) and module.id.endswith("_pb2_grpc"):
            return stubs[func.attr]
        if isinstance(module, ast.Attribute) and module.attr.endswith("_pb2_grpc"):
            return stubs[func.attr]
    if isinstance(func, ast.Name) and func.id in stubs and func.id in direct:
        return stubs[func.id]
    return None


def _constructed(value: ast.AST, direct: set[str]) -> set[str]:
    """Callees of every stub constructed anywhere inside ``value``."""
    return {c for part in ast.walk(value) if (c := _stub_callee(part, direct)) is not None}


def _assignments(tree: ast.AST) -> list[tuple[list[ast.expr], ast.expr]]:
    """(targets, value) of every assignment: ``=``, annotated, augmented and ``:=``."""
    found: list[tuple[list[ast.expr], ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            found.append((list(node.targets), node.value))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value:
            found.append(([node.target], node.value))
    return found


@dataclass(frozen=True)
class FileStubs:
    """What one source file does with stubs: which it constructs, what it binds them to, and
    every ``<receiver>.<RPC name>`` attribute in it (receiver text, method, line)."""

    path: Path
    constructed: frozenset[str]
    bound: Mapping[str, frozenset[str]]
    attributes: tuple[tuple[str, str, int], ...]


@functools.cache
def file_stubs(path: Path) -> FileStubs:
    """Parses ``path``: the stubs it constructs and binds, and its RPC-named attributes."""
    tree = ast.parse(path.read_text(), filename=str(path))
    direct = _grpc_imports(tree)
    every_rpc = frozenset().union(*rpc_methods().values())
    bound: dict[str, set[str]] = {}
    assignments = _assignments(tree)
    for targets, value in assignments:
        callees = _constructed(value, direct)
        for target in targets if callees else ():
            bound.setdefault(ast.unparse(target), set()).update(callees)
    changed = True
    while changed:  # aliases: ``stub = self.embedding``
        changed = False
        for targets, value in assignments:
            if not isinstance(value, ast.Name | ast.Attribute):
                continue
            source = bound.get(ast.unparse(value), set())
            for target in targets if source else ():
                held = bound.setdefault(ast.unparse(target), set())
                if not source <= held:
                    held |= source
                    changed = True
    attributes = tuple(
        (ast.unparse(node.value), node.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in every_rpc
    )
    return FileStubs(
        path,
        frozenset(_constructed(tree, direct)),
        {k: frozenset(v) for k, v in bound.items()},
        attributes,
    )


def _resolve(where: str, method: str, candidates: Iterable[str]) -> str | None:
    """The one callee among ``candidates`` that has RPC ``method``; None if none has it."""
    owners = sorted(c for c in candidates if method in rpc_methods()[c])
    if len(owners) > 1:
        raise ValueError(
            f"{where}: {method} may be an RPC of {owners}; bind each stub to its own name"
            " (x = <svc>_pb2_grpc.<Svc>Stub(channel)) and call it there, so the callee of"
            " every RPC can be told"
        )
    return owners[0] if owners else None


def calls_of_files(paths: Iterable[Path]) -> frozenset[tuple[str, str]]:
    """(callee, method) of every RPC the files call on a stub they (any of them) construct.

    An RPC name on a bound stub goes to that stub's service; on anything else (a stub made in
    another file of the same package and passed along), to the one constructed service that
    has the method.
    """
    parsed = [file_stubs(path) for path in paths]
    constructed = frozenset().union(*(f.constructed for f in parsed))
    calls: set[tuple[str, str]] = set()
    for stubs in parsed:
        for receiver, method, line in stubs.attributes:
            shown = stubs.path.relative_to(REPO) if stubs.path.is_relative_to(REPO) else stubs.path
            where = f"{shown}:{line}: {receiver}.{method}"
            candidates = stubs.bound.get(receiver, constructed)
            callee = _resolve(where, method, candidates)
            if callee is not None:
                calls.add((callee, method))
    return frozenset(calls)


def package_files(name: str) -> list[Path]:
    """Every .py file of ``services/<name>/``."""
    return sorted((SERVICES_DIR / name).rglob("*.py"))


def stubs_of_files(paths: Iterable[Path]) -> frozenset[str]:
    """The catalog services whose stubs the files construct."""
    return frozenset().union(*(file_stubs(path).constructed for path in paths))


@functools.cache
def code_call_edges() -> frozenset[CallEdge]:
    """Every (caller service, callee service, RPC) the services' own code makes."""
    edges: set[CallEdge] = set()
    for caller in catalog():
        for callee, method in calls_of_files(package_files(caller)):
            edges.add(CallEdge(caller, callee, method))
    return frozenset(edges)


def app_calls(name: str) -> frozenset[tuple[str, str]]:
    """(callee, method) of every RPC that the app ``services/<name>`` calls.

    An app (the web app, ``services/web``) is no catalog service: it calls the services' public
    ports with the token of the person using it, so its calls are not service-to-service edges
    and :func:`code_call_edges` leaves them out. Its health checks (``grpc_health`` stubs, on
    every service it has an address for) are not RPCs of a catalog service and not listed.
    """
    return calls_of_files(package_files(name))


def app_stubs(name: str) -> frozenset[str]:
    """The catalog services whose stubs the app ``services/<name>`` constructs."""
    return stubs_of_files(package_files(name))


def service_pairs(edges: Iterable[CallEdge] | None = None) -> frozenset[tuple[str, str]]:
    """(caller, callee) of the edges (default: :func:`code_call_edges`), methods dropped."""
    chosen = code_call_edges() if edges is None else edges
    return frozenset((edge.caller, edge.callee) for edge in chosen)
