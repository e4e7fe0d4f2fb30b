"""A labelling service (role labelling-service, the Label Studio bridge of issue 13) answering
for the people it names, over a real secured label server on loopback: its answers are stored
as ``<token name>:<person>``, one vote each, it must name a valid person, it withdraws only
inside its own namespace, and it may not query or run rounds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from access_fixtures import SecuredSystem, secured_system

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2 as pb
from annealpb.labels.v1 import labels_pb2_grpc
from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.server import AnnealServer
from services.labels.records import ImagePair
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.policy_matrix import Caller
from services.security.principal import Principal, Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.security.tokens import create_token

pytestmark = pytest.mark.integration
Serve = Callable[..., grpc.Channel]
Stub = labels_pb2_grpc.LabelServiceStub
WITHDRAW = "/anneal.labels.v1.LabelService/WithdrawLabel"


@dataclass
class Callers:
    """Stubs to one secured label server with round 1 open (pairs 0: a-b, 1: c-d)."""

    bridge: Stub  # labelling service "labelstudio"
    other_bridge: Stub  # labelling service "otherbridge"
    alice: Stub  # a local annotator
    operator: Stub

    def stored(self) -> list[tuple[str, str, bool]]:
        """(annotator_id, idempotency_key, withdrawn) of every label of round 1."""
        request = pb.ListLabelsRequest(round=1, include_withdrawn=True)
        labels = self.operator.ListLabels(request, timeout=5).labels
        return [(x.annotator_id, x.idempotency_key, x.withdrawn_at_unix_ms > 0) for x in labels]


@pytest.fixture
def callers(serve: Serve, tmp_path: Path) -> Iterator[Callers]:
    local = LocalSecurity.of(tmp_path / "state")
    local.ensure(["127.0.0.1"])
    tokens = {
        "labelstudio": create_token(local.tokens_file, "labelstudio", Role.LABELLING_SERVICE)[0],
        "otherbridge": create_token(local.tokens_file, "otherbridge", Role.LABELLING_SERVICE)[0],
        "alice": create_token(local.tokens_file, "alice", Role.ANNOTATOR)[0],
    }
    store = LabelStore(tmp_path / "labels.db")
    store.open_round(1, [ImagePair.canonical("a", "b"), ImagePair.canonical("c", "d")])
    security = ServerSecurity(
        tls=local.service_tls("labels"), tokens=TokenVerifier(local.tokens_file)
    )
    built: tuple[AnnealServer, int] = create_server("127.0.0.1:0", store, security=security)
    operator = Stub(serve(built, local.client(Role.OPERATOR)))
    address = f"127.0.0.1:{built[1]}"
    ca = local.ca.read_bytes()
    channels = {
        name: ChannelSecurity(ca=ca, token=token).channel(address) for name, token in tokens.items()
    }
    stubs = {name: Stub(channel) for name, channel in channels.items()}
    yield Callers(stubs["labelstudio"], stubs["otherbridge"], stubs["alice"], operator)
    for channel in channels.values():
        channel.close()


def label(key: str, annotator: str = "", pair_id: int = 0, similar: bool = True) -> pb.Label:
    return pb.Label(
        round=1, pair_id=pair_id, similar=similar, annotator_id=annotator, idempotency_key=key
    )


def submit(stub: Stub, *labels: pb.Label) -> pb.SubmitLabelsResponse:
    return stub.SubmitLabels(pb.SubmitLabelsRequest(labels=labels), timeout=5)


def withdraw(stub: Stub, key: str, annotator: str = "") -> pb.WithdrawLabelResponse:
    request = pb.WithdrawLabelRequest(round=1, idempotency_key=key, annotator_id=annotator)
    return stub.WithdrawLabel(request, timeout=5)


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_answers_are_stored_under_the_service_and_the_person_with_one_vote_each(
    callers: Callers,
) -> None:
    submit(callers.bridge, label("ls-a", "a"), label("ls-b", "b"))
    submit(callers.alice, label("alice-0", similar=False))
    submit(callers.other_bridge, label("ob-a", "a"))  # another service's "a" is another person
    assert callers.stored() == [
        ("labelstudio:a", "ls-a", False),
        ("labelstudio:b", "ls-b", False),
        ("alice", "alice-0", False),
        ("otherbridge:a", "ob-a", False),
    ]
    resolved = callers.operator.GetResolvedLabels(pb.GetResolvedLabelsRequest(round=1), timeout=5)
    assert [
        (r.pair.pair_id, r.similar, r.votes_similar, r.votes_dissimilar) for r in resolved.labels
    ] == [(0, True, 3, 1)]
    progress = callers.bridge.GetRoundProgress(pb.GetRoundProgressRequest(round=1), timeout=5)
    assert (progress.labels, progress.annotators, progress.your_labels) == (4, 4, 0)
    again = refusal(lambda: submit(callers.bridge, label("ls-a2", "a")))
    assert again.code() is grpc.StatusCode.ALREADY_EXISTS  # one answer per person and pair
    assert "'labelstudio:a' already answered pair 0" in (again.details() or "")


@pytest.mark.parametrize(
    ("annotator", "expected"),
    [
        ("", "label 1: annotator_id is empty: a labelling service must name the annotator"),
        ("x" * 201, "label 1: annotator_id is 201 characters long; at most 200 are allowed"),
        ("bob\nsmith", "label 1: annotator_id 'bob\\nsmith' contains control or other"),
        ("bob\u200b", "label 1: annotator_id 'bob\\u200b' contains control or other"),
    ],
)
def test_each_label_must_name_a_valid_person_and_nothing_is_stored_otherwise(
    callers: Callers, annotator: str, expected: str
) -> None:
    bad = refusal(lambda: submit(callers.bridge, label("ls-a", "a"), label("ls-x", annotator, 1)))
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (bad.details() or "").startswith(expected)
    assert callers.stored() == []


def test_the_longest_person_id_is_stored_whole(callers: Callers) -> None:
    person = "p" * 200
    submit(callers.bridge, label("ls-long", person))
    assert callers.stored() == [(f"labelstudio:{person}", "ls-long", False)]


def test_it_withdraws_its_own_answers_for_the_person_named_and_nothing_else(
    callers: Callers, caplog: pytest.LogCaptureFixture
) -> None:
    submit(callers.bridge, label("ls-a", "a"))
    submit(callers.alice, label("alice-0", similar=False))
    submit(callers.other_bridge, label("ob-a", "a", pair_id=1))

    empty = refusal(lambda: withdraw(callers.bridge, "ls-a"))
    assert empty.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "the request: annotator_id is empty" in (empty.details() or "")
    for key, person in (("alice-0", "alice"), ("ob-a", "a"), ("ls-a", "b")):
        theirs = refusal(lambda k=key, p=person: withdraw(callers.bridge, k, p))
        assert theirs.code() is grpc.StatusCode.NOT_FOUND, (key, person)
        assert theirs.details() == (
            f"annotator 'labelstudio:{person}' has no answer with idempotency key '{key}' "
            "in round 1"
        )
    # A local annotator can neither withdraw a delegated answer nor claim its name.
    assert refusal(lambda: withdraw(callers.alice, "ls-a")).code() is grpc.StatusCode.NOT_FOUND
    claimed = refusal(lambda: withdraw(callers.alice, "ls-a", "labelstudio:a"))
    assert claimed.code() is grpc.StatusCode.PERMISSION_DENIED

    caplog.set_level("INFO", logger="anneal.audit")
    reply = withdraw(callers.bridge, "ls-a", "a")
    assert reply.withdrawn and reply.label.annotator_id == "labelstudio:a"
    actions = [r for r in caplog.records if getattr(r, "audit", "") == "action"]
    assert [(r.method, r.caller, r.code, r.request) for r in actions] == [
        (
            WITHDRAW,
            "labelstudio",
            "OK",
            {"round": 1, "idempotency_key": "ls-a", "annotator_id": "a"},
        )
    ]
    assert callers.stored() == [
        ("labelstudio:a", "ls-a", True),
        ("alice", "alice-0", False),
        ("otherbridge:a", "ob-a", False),
    ]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[SecuredSystem]:
    yield from secured_system(tmp_path)


def test_it_may_not_query_run_rounds_or_read_every_answer(system: SecuredSystem) -> None:
    bridge = Caller("labelling-service token", Principal("labelstudio", Role.LABELLING_SERVICE))
    retrieval = retrieval_pb2_grpc.RetrievalServiceStub(system.channel_for(bridge, "retrieval"))
    coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(
        system.channel_for(bridge, "coordinator")
    )
    labels = Stub(system.channel_for(bridge, "labels"))
    calls: dict[str, Callable[[], object]] = {
        "Retrieve": lambda: retrieval.Retrieve(retrieval_pb2.RetrieveRequest(), timeout=5),
        "StartRound": lambda: coordinator.StartRound(
            coordinator_pb2.StartRoundRequest(), timeout=5
        ),
        "ListLabels": lambda: labels.ListLabels(pb.ListLabelsRequest(round=1), timeout=5),
    }
    for name, call in calls.items():
        refused = refusal(call)
        assert refused.code() is grpc.StatusCode.PERMISSION_DENIED, name
        assert "labelstudio (labelling-service, token) may not call it" in (
            refused.details() or ""
        ), name
