"""SelectionService on loopback with real label and search services (Milvus Lite)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from round_helpers import class_of, class_vectors, make_archive
from search_helpers import build_stream

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.search.v1 import search_pb2_grpc
from annealpb.selection.v1 import selection_pb2 as pb
from annealpb.selection.v1 import selection_pb2_grpc
from services.common.embedding_files import EmbeddingFiles
from services.common.metrics import grpc_service_registry
from services.labels.metrics import COLLECTORS as LABEL_COLLECTORS
from services.labels.server import create_server as create_labels_server
from services.labels.store import LabelStore
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.server import create_server as create_search_server
from services.security.server_security import ServerSecurity
from services.selection.label_client import LabelClient
from services.selection.round_store import RoundStore
from services.selection.rounds import SelectionRounds
from services.selection.server import create_server
from services.selection.vector_source import (
    FallbackVectors,
    FileVectors,
    SearchServiceVectors,
    VectorSource,
)

pytestmark = pytest.mark.integration

INSECURE = ServerSecurity.insecure()
LABELS_REGISTRY = grpc_service_registry(LABEL_COLLECTORS)


@pytest.fixture
def system(serve, tmp_path: Path):
    """Labels + search (index version 1 over the tiny archive) + selection, all on loopback."""
    ids = make_archive(tmp_path / "archive")
    store = LabelStore(tmp_path / "labels.db")
    manager = IndexManager.open(str(tmp_path / "milvus.db"), IndexConfig())
    labels_channel = serve(create_labels_server("127.0.0.1:0", store, security=INSECURE))
    search_channel = serve(create_search_server("127.0.0.1:0", manager, security=INSECURE))
    search_pb2_grpc.SearchServiceStub(search_channel).BuildIndex(
        build_stream(1, ids, class_vectors(ids), model_version="m1", swap=True, batch=8)
    )

    def selection(
        state: Path = tmp_path / "state",
        source: Callable[[grpc.Channel], VectorSource] | None = None,
    ) -> selection_pb2_grpc.SelectionServiceStub:
        """A selection server on ``state``; its embeddings from ``source(search channel)``
        (default: exported by the search service)."""
        vectors = (
            source(search_channel) if source else SearchServiceVectors(search_channel, lambda: ids)
        )
        rounds = SelectionRounds(RoundStore(state), vectors, LabelClient(labels_channel))
        return selection_pb2_grpc.SelectionServiceStub(
            serve(create_server("127.0.0.1:0", rounds, security=INSECURE))
        )

    yield ids, selection, labels_pb2_grpc.LabelServiceStub(labels_channel)
    manager.close(timeout_s=5)
    store.close()


def start(round_number: int = 1, strategy: str = "mgue", budget: int = 6, seed: int = 7):
    return pb.StartRoundRequest(round=round_number, strategy=strategy, budget=budget, seed=seed)


def code_of(call, request) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value.code()


def test_start_round_selects_registers_and_is_idempotent(system) -> None:
    ids, selection, labels = system
    stub = selection()
    first = stub.StartRound(start())
    assert first.created and first.round.pairs == 6 and first.round.index_version == 1
    pairs = [(p.image_a, p.image_b) for p in first.pairs]
    assert len(set(pairs)) == 6
    assert all(a < b and a in ids and b in ids for a, b in pairs)
    assert [p.pair_id for p in first.pairs] == list(range(6))
    registered = labels.ListPairs(labels_pb2.ListPairsRequest(round=1))
    assert [(p.image_a, p.image_b) for p in registered.pairs] == pairs
    again = stub.StartRound(start())
    assert not again.created
    assert [(p.image_a, p.image_b) for p in again.pairs] == pairs


def test_pending_pairs_shrink_as_labels_arrive_and_survive_restart(system, tmp_path) -> None:
    _ids, selection, labels = system
    stub = selection()
    pairs = stub.StartRound(start(budget=4)).pairs
    first = pairs[0]
    labels.SubmitLabels(
        labels_pb2.SubmitLabelsRequest(
            labels=[
                labels_pb2.Label(
                    round=1,
                    pair_id=first.pair_id,
                    similar=class_of(first.image_a) == class_of(first.image_b),
                    annotator_id="a",
                    idempotency_key="k0",
                )
            ]
        )
    )
    pending = stub.ListPendingPairs(pb.ListPendingPairsRequest(round=1)).pairs
    assert [p.pair_id for p in pending] == [1, 2, 3]
    assert len(stub.ListPendingPairs(pb.ListPendingPairsRequest(round=1, limit=2)).pairs) == 2
    info = stub.GetRound(pb.GetRoundRequest(round=1)).round
    assert (info.pairs, info.labelled_pairs, info.strategy, info.budget) == (4, 1, "mgue", 4)
    restarted = selection()  # a new server on the same state folder
    assert restarted.GetRound(pb.GetRoundRequest(round=1)).round.labelled_pairs == 1
    # the next round never asks again for an already labelled pair
    second = restarted.StartRound(start(round_number=2, budget=4)).pairs
    assert (first.image_a, first.image_b) not in {(p.image_a, p.image_b) for p in second}


def resolved_calls() -> float:
    """GetResolvedLabels calls the label service answered OK (its grpc_server_handled_total)."""
    labels = {
        "grpc_service": "anneal.labels.v1.LabelService",
        "grpc_method": "GetResolvedLabels",
        "grpc_code": "OK",
    }
    return LABELS_REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def test_a_round_reads_every_earlier_rounds_labels_with_one_call(system) -> None:
    _ids, selection, labels = system
    stub = selection()
    answered = set()
    for number in (1, 2):
        first = stub.StartRound(start(round_number=number, budget=4)).pairs[0]
        answered.add((first.image_a, first.image_b))
        label = labels_pb2.Label(
            round=number,
            pair_id=first.pair_id,
            similar=class_of(first.image_a) == class_of(first.image_b),
            annotator_id="a",
            idempotency_key=f"k{number}",
        )
        labels.SubmitLabels(labels_pb2.SubmitLabelsRequest(labels=[label]))
    before = resolved_calls()
    third = stub.StartRound(start(round_number=3, budget=4)).pairs
    assert resolved_calls() - before == 1  # rounds 1 and 2 in one call, not one each
    assert not answered & {(p.image_a, p.image_b) for p in third}


def test_bad_inputs_get_precise_codes_and_change_nothing(system) -> None:
    _ids, selection, _labels = system
    stub = selection()
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(stub.StartRound, start(strategy="nonsense")) == invalid
    assert code_of(stub.StartRound, start(budget=0)) == invalid
    assert code_of(stub.StartRound, start(budget=10_001)) == invalid
    assert code_of(stub.StartRound, start(budget=10_000)) == invalid  # larger than the pool
    assert code_of(stub.StartRound, start(round_number=0)) == invalid
    missing = pb.StartRoundRequest(round=1, strategy="random", budget=3, index_version=9)
    assert code_of(stub.StartRound, missing) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(stub.GetRound, pb.GetRoundRequest(round=1)) == grpc.StatusCode.NOT_FOUND
    not_found = pb.ListPendingPairsRequest(round=5)
    assert code_of(stub.ListPendingPairs, not_found) == grpc.StatusCode.NOT_FOUND
    stub.StartRound(start(strategy="random", budget=3))
    other = start(strategy="random", budget=4)
    with pytest.raises(grpc.RpcError) as info:
        stub.StartRound(other)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "budget 3" in info.value.details()
    assert stub.GetRound(pb.GetRoundRequest(round=1)).round.budget == 3


def pairs_of(stub: selection_pb2_grpc.SelectionServiceStub) -> list[tuple[str, str, float]]:
    """Round 1's pairs (and scores), chosen over index version 1."""
    request = pb.StartRoundRequest(round=1, strategy="mgue", budget=6, seed=7, index_version=1)
    return [(p.image_a, p.image_b, p.score) for p in stub.StartRound(request).pairs]


def files_first(
    files: EmbeddingFiles, ids: list[str], search: grpc.Channel | None = None
) -> Callable[[grpc.Channel], VectorSource]:
    """The service's own source: the files, else the search service (``search``, default the
    one serving version 1)."""
    return lambda served: FallbackVectors(
        FileVectors(files, lambda: ids), SearchServiceVectors(search or served, lambda: ids)
    )


def test_selection_reads_a_version_from_its_files_with_no_search_service_and_picks_the_same(
    system, tmp_path: Path
) -> None:
    ids, selection, _labels = system
    exported = pairs_of(selection(tmp_path / "exported"))
    files = EmbeddingFiles(tmp_path / "embeddings")
    files.write(1, "m1", ids, class_vectors(ids))  # what the coordinator indexed as version 1
    nowhere = grpc.insecure_channel("127.0.0.1:1")  # any call to it fails: UNAVAILABLE
    try:
        from_files = pairs_of(selection(tmp_path / "files", files_first(files, ids, nowhere)))
    finally:
        nowhere.close()
    assert from_files == exported


def test_a_version_without_files_is_exported_from_the_search_service(
    system, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids, selection, _labels = system
    exported = pairs_of(selection(tmp_path / "exported"))
    files = EmbeddingFiles(tmp_path / "embeddings")  # e.g. a folder not shared with the coordinator
    with caplog.at_level(logging.INFO, logger="services.selection.vector_source"):
        assert pairs_of(selection(tmp_path / "fallback", files_first(files, ids))) == exported
    assert "holds no complete embeddings" in caplog.text
    assert "bytes over gRPC" in caplog.text


def test_files_whose_manifest_was_never_written_are_not_read(
    system, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids, selection, _labels = system
    exported = pairs_of(selection(tmp_path / "exported"))
    files = EmbeddingFiles(tmp_path / "embeddings")
    files.write(1, "m1", ids, class_vectors(ids, seed=1)[::-1])  # other embeddings...
    (files.path(1) / "manifest.json").unlink()  # ...and the writer died before the manifest
    with caplog.at_level(logging.INFO, logger="services.selection.vector_source"):
        assert pairs_of(selection(tmp_path / "fallback", files_first(files, ids))) == exported
    assert "no manifest" in caplog.text
    assert "mapped from" not in caplog.text
