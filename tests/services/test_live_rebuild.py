"""Live rebuild: clients call Retrieve all the time while two rounds retrain and swap the index.

Every call must succeed with k hits, and the index version a client sees never goes backwards.
TLS and tokens are on: clients hold a reader token, the services call each other with their
certificates. Queries are by archive id, so the retrieval service needs only the search service
(its embedding channel points at a closed port and is never used).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from round_helpers import Stack, answer, wait_for

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.demo.query_load import QueryLoad, retrieval_query
from services.retrieval.search_client import SearchClient
from services.retrieval.server import create_server as retrieval_server
from services.security.principal import Role

pytestmark = pytest.mark.integration
K = 5


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack(serve, tmp_path: Path) -> Iterator[Stack]:
    built = Stack(serve, tmp_path)
    yield built
    built.close()


def test_retrieve_never_fails_or_goes_back_while_two_rounds_swap_the_index(
    serve, stack: Stack
) -> None:
    coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator())
    wait_for(coordinator, lambda r: r.serving_index_version == 1)
    unused = grpc.insecure_channel(f"127.0.0.1:{closed_port()}")
    built = retrieval_server(
        "127.0.0.1:0",
        unused,
        SearchClient(stack.service_channel("retrieval", "search")),
        security=stack.server_security("retrieval"),
    )
    retrieval = serve(built, stack.security.client(Role.READER))
    load = QueryLoad(retrieval_query(retrieval), stack.ids, k=K, clients=3)
    load.start()
    try:
        for number in (1, 2):
            request = pb.StartRoundRequest(
                strategy="mgue", budget=5, seed=number, close_when_answered=True
            )
            coordinator.StartRound(request)
            answer(stack, number)
            done = wait_for(
                coordinator,
                lambda r, n=number: (
                    r.round.round == n
                    and r.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED)
                ),
            )
            assert done.round.state == pb.ROUND_STATE_DONE, done.round.error
        time.sleep(0.5)  # answers from the last index too
    finally:
        load.stop()
    stats = load.stats()
    assert stats.calls > 50
    assert stats.errors == 0, load.first_errors()
    assert stats.incomplete == 0
    assert stats.versions_backwards == 0
    seen = {a.version for client in load.answers for a in client}
    assert seen == {1, 2, 3}
