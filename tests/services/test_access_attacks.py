"""The attacks of issue 7, tried as an outside caller would against real secured services: a
forged index, a client opening a label round, an annotator labelling as someone else. Each is
refused and nothing stored changes; the rounds after them still run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from round_helpers import Stack, answer, wait_for

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.security.principal import Role

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(serve, tmp_path: Path) -> Iterator[Stack]:
    built = Stack(serve, tmp_path)
    yield built
    built.close()


def forged_index(count: int = 2100, dim: int = 8) -> Iterator[search_pb2.BuildIndexRequest]:
    options = search_pb2.BuildOptions(version=100, model_version="forged", swap=True)
    yield search_pb2.BuildIndexRequest(options=options)
    vectors = np.random.default_rng(0).normal(size=(count, dim)).astype(np.float32)
    yield search_pb2.BuildIndexRequest(
        items=[
            search_pb2.IndexItem(image_id=f"fake{i}", vector=search_pb2.Vector(values=v.tolist()))
            for i, v in enumerate(vectors)
        ]
    )


def refused(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_a_forged_index_is_refused_and_the_next_round_still_swaps(stack: Stack, caplog) -> None:
    caplog.set_level("INFO", logger="anneal.audit")
    coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
    wait_for(coordinator, lambda r: r.serving_index_version == 1)
    collections = stack.manager.collections()
    attackers = {
        "operator token": search_pb2_grpc.SearchServiceStub(stack.search),
        "reader token": search_pb2_grpc.SearchServiceStub(stack.client(Role.READER, "search")),
        "selection certificate": search_pb2_grpc.SearchServiceStub(
            stack.service_channel("selection", "search")
        ),
    }
    for who, stub in attackers.items():
        assert refused(lambda s=stub: s.BuildIndex(forged_index(), timeout=30)) == (
            grpc.StatusCode.PERMISSION_DENIED
        ), who
        swap = search_pb2.SwapIndexRequest(version=100)
        assert refused(lambda s=stub, r=swap: s.SwapIndex(r, timeout=10)) == (
            grpc.StatusCode.PERMISSION_DENIED
        ), who
    info = search_pb2_grpc.SearchServiceStub(stack.search).GetIndexInfo(
        search_pb2.GetIndexInfoRequest()
    )
    assert (info.version, info.count) == (1, len(stack.ids))
    assert stack.manager.collections() == collections  # nothing was written to Milvus
    coordinator.StartRound(
        pb.StartRoundRequest(strategy="random", budget=4, seed=1, close_when_answered=True)
    )
    answer(stack, 1)
    done = wait_for(
        coordinator,
        lambda r: r.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED),
    )
    assert done.round.state == pb.ROUND_STATE_DONE, done.round.error
    assert done.serving_index_version == 2
    audit = [r for r in caplog.records if hasattr(r, "audit")]
    refusals = [(r.method.rpartition("/")[2], r.caller) for r in audit if r.audit == "refused"]
    assert refusals == [
        (method, caller)
        for caller in ("local-operator", "local-reader", "selection")
        for method in ("BuildIndex", "SwapIndex")
    ]
    actions = {
        (r.method.rpartition("/")[2], r.caller, r.code) for r in audit if r.audit == "action"
    }
    assert ("StartRound", "local-operator", "OK") in actions  # who started the round
    swaps = [r.request for r in audit if r.audit == "action" and r.method.endswith("/SwapIndex")]
    assert {"version": 2} in swaps and all(
        r.caller == "coordinator"
        for r in audit
        if r.audit == "action" and r.method.endswith("Index")
    )


def test_a_client_cannot_open_or_close_a_label_round(stack: Stack) -> None:
    pairs = [labels_pb2.ImagePair(image_a=stack.ids[0], image_b=stack.ids[1])]
    open_request = labels_pb2.OpenRoundRequest(round=1, pairs=pairs)
    for role in (Role.OPERATOR, Role.ANNOTATOR, Role.READER):
        stub = labels_pb2_grpc.LabelServiceStub(stack.client(role, "labels"))
        assert refused(lambda s=stub: s.OpenRound(open_request, timeout=10)) == (
            grpc.StatusCode.PERMISSION_DENIED
        ), role
        close = labels_pb2.CloseRoundRequest(round=1)
        assert refused(lambda s=stub, r=close: s.CloseRound(r, timeout=10)) == (
            grpc.StatusCode.PERMISSION_DENIED
        ), role
    coordinator_cert = labels_pb2_grpc.LabelServiceStub(
        stack.service_channel("coordinator", "labels")
    )
    assert refused(lambda: coordinator_cert.OpenRound(open_request, timeout=10)) == (
        grpc.StatusCode.PERMISSION_DENIED  # selection opens rounds, not the coordinator
    )
    progress = labels_pb2.GetRoundProgressRequest(round=1)
    reader = labels_pb2_grpc.LabelServiceStub(stack.client(Role.READER, "labels"))
    assert refused(lambda: reader.GetRoundProgress(progress, timeout=10)) == (
        grpc.StatusCode.NOT_FOUND  # allowed to ask, and no round was made
    )


def test_answers_are_stored_under_the_token_identity_and_impersonation_is_refused(
    stack: Stack,
) -> None:
    selection = labels_pb2_grpc.LabelServiceStub(stack.service_channel("selection", "labels"))
    pairs = [labels_pb2.ImagePair(image_a=stack.ids[0], image_b=stack.ids[1])]
    selection.OpenRound(labels_pb2.OpenRoundRequest(round=1, pairs=pairs))
    annotator = labels_pb2_grpc.LabelServiceStub(stack.labels)  # the local annotator token
    as_bob = labels_pb2.Label(
        round=1, pair_id=0, similar=True, annotator_id="bob", idempotency_key="k-bob"
    )
    request = labels_pb2.SubmitLabelsRequest(labels=[as_bob])
    with pytest.raises(grpc.RpcError) as info:
        annotator.SubmitLabels(request)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "'bob'" in (info.value.details() or "") and "local-annotator" in (
        info.value.details() or ""
    )
    operator = labels_pb2_grpc.LabelServiceStub(stack.client(Role.OPERATOR, "labels"))
    assert list(operator.ListLabels(labels_pb2.ListLabelsRequest(round=1)).labels) == []
    mine = labels_pb2.Label(round=1, pair_id=0, similar=True, idempotency_key="k-mine")
    annotator.SubmitLabels(labels_pb2.SubmitLabelsRequest(labels=[mine]))
    stored = list(operator.ListLabels(labels_pb2.ListLabelsRequest(round=1)).labels)
    assert [(s.annotator_id, s.similar) for s in stored] == [("local-annotator", True)]
