"""Several annotators at once get different pairs first: each annotator's pending list is the
round's list rotated to a stable place of their own; services and operators get it as stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from round_helpers import Stack, wait_for

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.security.channels import ChannelSecurity
from services.security.principal import Role
from services.security.tokens import create_token
from services.selection.pair_order import for_annotator, offset_for


def test_a_rotation_keeps_every_pair_and_depends_only_on_the_name() -> None:
    pairs = list(range(10))
    alice = for_annotator(pairs, "alice", 10, int)
    assert sorted(alice) == pairs
    assert alice == for_annotator(pairs, "alice", 10, int)
    assert alice[0] == offset_for("alice", 10)
    assert for_annotator(pairs, None, 10, int) == pairs
    assert for_annotator([], "alice", 10, int) == []
    starts = {offset_for(f"annotator-{i}", 10) for i in range(20)}
    assert len(starts) > 5  # names spread over the list


def test_the_order_of_what_is_left_does_not_move_as_answers_arrive() -> None:
    pairs = list(range(10))
    order = for_annotator(pairs, "alice", 10, int)
    for answered in range(1, 10):
        left = [p for p in pairs if p not in order[:answered]]
        assert for_annotator(left, "alice", 10, int) == order[answered:]


@pytest.fixture
def stack(serve, tmp_path: Path) -> Iterator[Stack]:
    built = Stack(serve, tmp_path)
    yield built
    built.close()


@pytest.mark.integration
def test_two_annotators_start_at_different_pairs(stack: Stack) -> None:
    coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
    wait_for(coordinator, lambda r: r.serving_index_version == 1)
    coordinator.StartRound(pb.StartRoundRequest(strategy="random", budget=8, seed=3))
    wait_for(coordinator, lambda r: r.round.state == pb.ROUND_STATE_COLLECTING)
    address = f"127.0.0.1:{stack.public['selection']}"
    request = selection_pb2.ListPendingPairsRequest(round=1)
    as_stored = selection_pb2_grpc.SelectionServiceStub(stack.client(Role.OPERATOR, "selection"))
    stored = [p.pair_id for p in as_stored.ListPendingPairs(request).pairs]
    assert stored == list(range(8))
    firsts = {}
    for name in ("alice", "bob"):
        token, _ = create_token(stack.security.tokens_file, name, Role.ANNOTATOR)
        channel = ChannelSecurity(ca=stack.security.ca.read_bytes(), token=token).channel(address)
        stack._channels.append(channel)
        stub = selection_pb2_grpc.SelectionServiceStub(channel)
        pending = _retry_until_known(stub, request)
        assert pending == for_annotator(stored, name, len(stored), int)
        firsts[name] = pending[0]
        limited = stub.ListPendingPairs(selection_pb2.ListPendingPairsRequest(round=1, limit=2))
        assert [p.pair_id for p in limited.pairs] == pending[:2]
    assert firsts["alice"] != firsts["bob"]


def _retry_until_known(stub, request) -> list[int]:  # type: ignore[no-untyped-def]
    """The pending ids, once the server has re-read the token file (reload interval 0.2 s)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return [p.pair_id for p in stub.ListPendingPairs(request, timeout=5).pairs]
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAUTHENTICATED or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
