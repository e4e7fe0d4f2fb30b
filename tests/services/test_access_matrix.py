"""Every RPC of every service, called by every kind of caller through real TLS servers: no
credential -> UNAUTHENTICATED, a role or service the policy does not list -> PERMISSION_DENIED,
one it lists -> not refused. The cases come from the proto descriptors and the policy table, so
an RPC added to a proto without a policy entry is refused to all and fails the coverage test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from access_fixtures import SecuredSystem, binding_of, call, secured_system
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.catalog import SERVICES
from services.common.metrics import GRPC_COLLECTORS, metrics_registry
from services.common.server import create_server
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.policy import HEALTH_METHODS, POLICY, REFLECTION_METHODS, rule_for
from services.security.policy_matrix import Caller, Verdict, matrix, system_rpcs
from services.security.principal import Principal, Role
from services.security.server_security import ServerSecurity

pytestmark = pytest.mark.integration
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredSystem]:
    yield from secured_system(tmp_path_factory.mktemp("access"))


def test_the_policy_lists_every_rpc_of_every_proto_and_nothing_else() -> None:
    declared = {rpc.full_name for rpc in system_rpcs()}
    assert len(declared) == 33
    listed = set(POLICY) - set(HEALTH_METHODS) - set(REFLECTION_METHODS)
    assert declared - listed == set(), "RPCs without a policy entry (refused to everyone)"
    assert listed - declared == set(), "policy entries for RPCs no proto declares"


def test_service_entries_name_real_services_and_no_rpc_is_open() -> None:
    for name, rule in POLICY.items():
        assert rule.services <= set(SERVICES), name
        assert rule.open == (name in HEALTH_METHODS), name
        assert rule.open or rule.roles or rule.services, f"{name} is closed to everyone"


def test_index_rounds_and_labels_belong_to_their_owners() -> None:
    """The owner rules written out by hand, so a wrong table cannot pass on its own terms."""
    owners = {
        "/anneal.search.v1.SearchService/BuildIndex": {"coordinator"},
        "/anneal.search.v1.SearchService/SwapIndex": {"coordinator"},
        "/anneal.search.v1.SearchService/AddToIndex": {"coordinator"},
        "/anneal.labels.v1.LabelService/OpenRound": {"selection"},
        "/anneal.labels.v1.LabelService/CloseRound": {"coordinator"},
        "/anneal.selection.v1.SelectionService/StartRound": {"coordinator"},
        "/anneal.embedding.v1.EmbeddingService/LoadModel": {"coordinator"},
    }
    for method, services in owners.items():
        rule = rule_for(method)
        assert rule.roles == frozenset(), f"{method} is open to a token role"
        assert rule.services == services, method
    answering = {Role.ANNOTATOR, Role.LABELLING_SERVICE}
    submit = rule_for("/anneal.labels.v1.LabelService/SubmitLabels")
    assert submit.roles == answering and not submit.services
    withdraw = rule_for("/anneal.labels.v1.LabelService/WithdrawLabel")
    assert withdraw.roles == answering and not withdraw.services and withdraw.audit
    retrieve = rule_for("/anneal.retrieval.v1.RetrievalService/Retrieve")
    assert retrieve.allows(Principal("app", Role.READER))
    assert not retrieve.allows(Principal("alice", Role.ANNOTATOR))


def test_a_labelling_service_may_answer_and_read_rounds_and_nothing_else() -> None:
    """Its grants written out by hand (issue 13): answers, pairs and round state only."""
    bridge = Principal("labelstudio", Role.LABELLING_SERVICE)
    allowed = {rpc.full_name for rpc in system_rpcs() if rule_for(rpc.full_name).allows(bridge)}
    assert allowed == {
        "/anneal.labels.v1.LabelService/SubmitLabels",
        "/anneal.labels.v1.LabelService/WithdrawLabel",
        "/anneal.labels.v1.LabelService/ListPairs",
        "/anneal.labels.v1.LabelService/GetRoundProgress",
        "/anneal.labels.v1.LabelService/ListRounds",
        "/anneal.selection.v1.SelectionService/ListPendingPairs",
        "/anneal.coordinator.v1.CoordinatorService/GetStatus",
        "/anneal.coordinator.v1.CoordinatorService/WatchStatus",
        "/anneal.coordinator.v1.CoordinatorService/ListRounds",
    }


CASES = [
    pytest.param(rpc, caller, verdict, id=f"{rpc.method}-{caller.label}")
    for rpc, caller, verdict in matrix()
]


def _code(system: SecuredSystem, rpc, caller: Caller) -> tuple[grpc.StatusCode, str]:
    try:
        call(system.channel_for(caller, rpc.service), rpc)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize(("rpc", "caller", "verdict"), CASES)
def test_every_rpc_for_every_caller(
    system: SecuredSystem, rpc, caller: Caller, verdict: Verdict
) -> None:
    code, details = _code(system, rpc, caller)
    if verdict is Verdict.ALLOWED:
        assert code is grpc.StatusCode.UNIMPLEMENTED, details  # past the policy, at the servicer
    elif verdict is Verdict.UNAUTHENTICATED:
        assert code is grpc.StatusCode.UNAUTHENTICATED, details
        assert "needs a valid credential" in details and "Bearer" in details
    else:
        assert code is grpc.StatusCode.PERMISSION_DENIED, details
        assert f"needs {rule_for(rpc.full_name).needs()}" in details
        assert caller.principal is not None
        assert f"({caller.principal.role.value}, {caller.principal.via})" in details


def test_health_needs_no_credential(system: SecuredSystem) -> None:
    nobody = Caller("no credential", None)
    for name, spec in SERVICES.items():
        stub = health_pb2_grpc.HealthStub(system.channel_for(nobody, name))
        reply = stub.Check(health_pb2.HealthCheckRequest(service=spec.full_service_name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


GRPC_REGISTRY = metrics_registry(GRPC_COLLECTORS)


def _handled(method: str, code: str) -> float:
    service, _, name = method.lstrip("/").rpartition("/")
    labels = {"grpc_service": service, "grpc_method": name, "grpc_code": code}
    return GRPC_REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def test_refusals_are_counted_by_code_and_audited(system: SecuredSystem, caplog) -> None:
    rpc = next(r for r in system_rpcs() if r.method == "SwapIndex")
    reader = next(c for c in Caller.everyone() if c.label == "reader token")
    nobody = Caller("no credential", None)
    before = (
        _handled(rpc.full_name, "PERMISSION_DENIED"),
        _handled(rpc.full_name, "UNAUTHENTICATED"),
    )
    caplog.set_level("INFO", logger="anneal.audit")
    assert _code(system, rpc, reader)[0] is grpc.StatusCode.PERMISSION_DENIED
    assert _code(system, rpc, nobody)[0] is grpc.StatusCode.UNAUTHENTICATED
    after = (
        _handled(rpc.full_name, "PERMISSION_DENIED"),
        _handled(rpc.full_name, "UNAUTHENTICATED"),
    )
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 1.0)
    refused = [r for r in caplog.records if getattr(r, "audit", "") == "refused"]
    assert [(r.method, r.code, r.caller) for r in refused] == [
        (rpc.full_name, "PERMISSION_DENIED", "local-reader"),
        (rpc.full_name, "UNAUTHENTICATED", ""),
    ]


def test_a_service_certificate_is_no_identity_on_the_public_port(system: SecuredSystem) -> None:
    coordinator = ChannelSecurity.for_service(system.local.service_tls("coordinator"))
    rpc = next(r for r in system_rpcs() if r.method == "SwapIndex")
    with (
        coordinator.channel(system.public("search")) as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        call(channel, rpc)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


ONE_TRY = (("grpc.enable_retries", 0),)
"""One try, no waiting for readiness: the refusal itself, not gRPC's retries of it."""


def test_the_internal_port_refuses_callers_without_a_certificate_from_our_ca(
    system: SecuredSystem, tmp_path: Path
) -> None:
    other = LocalSecurity.of(tmp_path / "other")
    other.ensure(["127.0.0.1"])  # another CA: a look-alike coordinator certificate
    rpc = next(r for r in system_rpcs() if r.method == "SwapIndex")
    impostor = ChannelSecurity(
        ca=system.local.ca.read_bytes(), identity=other.service_tls("coordinator")
    )
    token_only = system.local.client(Role.OPERATOR)
    for security in (impostor, token_only):
        with (
            security.channel(system.internal("search"), ONE_TRY, wait_for_ready=False) as channel,
            pytest.raises(grpc.RpcError) as info,
        ):
            call(channel, rpc, timeout=3)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails


def test_with_tls_a_plaintext_port_serves_health_and_nothing_else(system: SecuredSystem) -> None:
    """For probes that cannot speak TLS (the kubelet's): health only, no other service."""
    security = ServerSecurity(tls=system.local.service_tls("retrieval"), tokens=None, health_port=0)
    server, _port = create_server("127.0.0.1:0", [binding_of("retrieval")], security)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            rpc = next(r for r in system_rpcs() if r.method == "Retrieve")
            with pytest.raises(grpc.RpcError) as info:
                call(channel, rpc)
            assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(None).wait()


# Grants the policy makes to a service that the code does not (yet) use: the coordinator owns
# model rollout, UnloadModel included, though no code path unloads a model today.
UNUSED_OWNER_GRANTS = {("coordinator", "embedding", "UnloadModel")}


def test_the_policy_grants_services_exactly_the_calls_their_code_makes() -> None:
    from call_edges import code_call_edges

    code = {(e.caller, e.callee, e.method) for e in code_call_edges()}
    assert len(code) >= 19
    granted = set()
    for rpc in system_rpcs():
        for service in rule_for(rpc.full_name).services:
            granted.add((service, rpc.service, rpc.method))
    assert code - granted == set(), "calls the code makes that the policy refuses"
    assert granted - code == UNUSED_OWNER_GRANTS, "service grants no code needs"


def test_docs_show_the_policy_table_the_code_enforces() -> None:
    from services.security.policy_table import markdown

    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    start = text.index("<!-- policy-table:start -->\n") + len("<!-- policy-table:start -->\n")
    end = text.index("<!-- policy-table:end -->")
    assert text[start:end] == markdown(), "run python -m services.security.policy_table"
