"""The index a version gets by its size, the recall measured at its build, and the refusal of an
ANN index below the recall floor: IndexManager and the gRPC service over Milvus Lite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from index_choice_data import CLUSTERED_ROWS, clustered, ids_of, recall_of
from search_helpers import IDS, META, VECTORS, Q, build_stream

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.metrics import grpc_service_registry
from services.search.build_recall import RECALL_K, probe_rows
from services.search.errors import RecallBelowFloorError
from services.search.index_choice import AnnChoice
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.metrics import COLLECTORS
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity

FAST_RETRY = RetryPolicy(attempts=2, delay_s=0.01)
SIX_ROWS_IVF = AnnChoice(6, "IVF_FLAT", {"nlist": 2}, {"nprobe": 2})
"""IVF_FLAT from 6 rows, every list searched: it finds what exact search finds."""
CLUSTERED_IVF = AnnChoice(CLUSTERED_ROWS, "IVF_FLAT", {"nlist": 128}, {"nprobe": 4})
ONE_LIST_IVF = AnnChoice(CLUSTERED_ROWS, "IVF_FLAT", {"nlist": 128}, {"nprobe": 1})
REGISTRY = grpc_service_registry(COLLECTORS)


@pytest.fixture
def open_manager(tmp_path: Path) -> Iterator[type[IndexManager]]:
    opened: list[IndexManager] = []

    def open_one(config: IndexConfig) -> IndexManager:
        manager = IndexManager.open(str(tmp_path / "milvus.db"), config, FAST_RETRY)
        opened.append(manager)
        return manager

    yield open_one  # type: ignore[misc]
    for manager in opened:
        manager.close(timeout_s=5)


def index_type_in_milvus(manager: IndexManager, collection: str) -> str:
    client = manager._connection.client
    return str(client.describe_index(collection, client.list_indexes(collection)[0])["index_type"])


def test_below_the_row_threshold_a_version_is_flat_and_from_it_the_ann_type(open_manager) -> None:
    manager = open_manager(IndexConfig(ann=SIX_ROWS_IVF))
    small = manager.build(1, IDS[:5], VECTORS[:5], META[:5])
    large = manager.build(2, IDS, VECTORS, META)
    assert (small.index_type, small.recall) == ("FLAT", 1.0)
    assert (large.index_type, large.recall, large.search_params) == ("IVF_FLAT", 1.0, {"nprobe": 2})
    assert index_type_in_milvus(manager, small.collection) == "FLAT"
    assert index_type_in_milvus(manager, large.collection) == "IVF_FLAT"
    manager.swap(2)
    assert [h.image_id for h in manager.search(Q, k=3).hits[0]] == ["b", "c", "a"]


def test_a_named_index_type_is_used_at_every_size(open_manager) -> None:
    flat = open_manager(IndexConfig(index_type="FLAT", ann=AnnChoice(min_rows=1)))
    assert flat.build(1, IDS, VECTORS).index_type == "FLAT"
    flat.close(timeout_s=5)
    ivf = open_manager(
        IndexConfig(index_type="IVF_FLAT", build_params={"nlist": 2}, search_params={"nprobe": 2})
    )
    built = ivf.build(1, IDS[:4], VECTORS[:4])  # far below the default 100,000 rows
    assert (built.index_type, built.recall) == ("IVF_FLAT", 1.0)


def test_a_restart_searches_a_version_with_the_params_it_was_built_with(open_manager) -> None:
    first = open_manager(IndexConfig(ann=SIX_ROWS_IVF))
    first.build(1, IDS, VECTORS, META)
    first.swap(1)
    first.close(timeout_s=5)
    again = open_manager(IndexConfig(search_params={"nprobe": 1}))  # FLAT's params, not v1's
    serving = again.current()
    assert serving is not None
    assert (serving.index_type, serving.search_params) == ("IVF_FLAT", {"nprobe": 2})
    assert len(again.search(Q, k=6).hits[0]) == 6  # both lists searched


def test_the_recall_reported_is_what_the_query_path_finds_of_the_exact_top_20(
    open_manager,
) -> None:
    vectors = clustered()
    manager = open_manager(IndexConfig(metric="L2", ann=CLUSTERED_IVF, recall_floor=0.5))
    built = manager.build(1, ids_of(CLUSTERED_ROWS), vectors)
    manager.swap(1)
    found = manager.search(vectors[probe_rows(CLUSTERED_ROWS)], k=RECALL_K).hits
    expected = recall_of([[h.image_id for h in row] for row in found], vectors)
    assert built.index_type == "IVF_FLAT"
    assert built.recall == pytest.approx(expected, abs=1e-9)
    assert 0.5 < built.recall < 1.0  # approximate: some true neighbours missed, most found


def test_an_ann_build_below_the_recall_floor_is_refused_and_the_old_version_serves(
    open_manager,
) -> None:
    manager = open_manager(IndexConfig(metric="L2", ann=ONE_LIST_IVF))
    manager.build(1, IDS, VECTORS, META, model_version="m1")
    manager.swap(1)
    vectors = clustered()
    with pytest.raises(RecallBelowFloorError) as refused:
        manager.build(2, ids_of(CLUSTERED_ROWS), vectors, model_version="m2")
    message = str(refused.value)
    assert refused.value.recall < 0.95
    assert f"found {refused.value.recall:.3f} of the exact 20" in message
    assert "below the recall floor 0.95" in message
    assert 'ANNEAL_INDEX_ANN_SEARCH_PARAMS {"nprobe": 1}: raise nprobe' in message
    assert manager.collections() == ["anneal_v1"]  # the half-built v2 was dropped
    result = manager.search(Q, k=3)
    assert (result.version, result.model_version) == (1, "m1")
    assert [h.image_id for h in result.hits[0]] == ["b", "c", "a"]  # squared L2 .08, .4, .8


def test_build_index_reports_recall_and_a_refused_build_fails_counted(serve, tmp_path) -> None:
    manager = IndexManager.open(
        str(tmp_path / "milvus.db"), IndexConfig(metric="L2", ann=ONE_LIST_IVF), FAST_RETRY
    )
    try:
        stub = search_pb2_grpc.SearchServiceStub(
            serve(create_server("127.0.0.1:0", manager, security=ServerSecurity.insecure()))
        )
        reply = stub.BuildIndex(build_stream(1, IDS, VECTORS, META, swap=True))
        assert reply.recall == 1.0
        assert REGISTRY.get_sample_value("anneal_index_build_recall") == 1.0
        failures = REGISTRY.get_sample_value("anneal_index_rebuild_failures_total") or 0.0
        vectors = clustered()
        with pytest.raises(grpc.RpcError) as refused:
            stub.BuildIndex(build_stream(2, ids_of(CLUSTERED_ROWS), vectors, batch=500))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "below the recall floor 0.95" in refused.value.details()
        recall = REGISTRY.get_sample_value("anneal_index_build_recall")
        assert recall is not None and 0 < recall < 0.95
        assert REGISTRY.get_sample_value("anneal_index_rebuild_failures_total") == failures + 1
        assert stub.GetIndexInfo(search_pb2.GetIndexInfoRequest()).version == 1
    finally:
        manager.close(timeout_s=5)
