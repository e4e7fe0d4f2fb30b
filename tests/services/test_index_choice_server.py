"""HNSW chosen by size on a real Milvus 2.3.5 server: its build params reach the server, its
recall is measured at build, and a search for more hits than its ef answers (2.3.5 widens
the search itself)."""

from __future__ import annotations

import pytest
from index_choice_data import clustered, ids_of, recall_of
from pymilvus import MilvusClient

from services.search.build_recall import RECALL_K, probe_rows
from services.search.index_choice import AnnChoice
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.retry import RetryPolicy

pytestmark = pytest.mark.integration

ROWS = 500
HNSW = AnnChoice(ROWS, "HNSW", {"M": 8, "efConstruction": 64}, {"ef": 10})


def test_hnsw_by_size_reports_the_recall_the_query_path_gives(
    request: pytest.FixtureRequest,
) -> None:
    uri = str(request.getfixturevalue("milvus_server_uri"))
    config = IndexConfig(prefix="t_hnsw_by_size", metric="L2", ann=HNSW, recall_floor=0.0)
    manager = IndexManager.open(uri, config, RetryPolicy(attempts=3, delay_s=0.2))
    try:
        vectors = clustered(ROWS)
        built = manager.build(1, ids_of(ROWS), vectors)
        manager.swap(1)
        raw = MilvusClient(uri)
        index = raw.describe_index(built.collection, raw.list_indexes(built.collection)[0])
        assert (index["index_type"], int(index["M"]), int(index["efConstruction"])) == (
            "HNSW",
            8,
            64,
        )
        found = manager.search(vectors[probe_rows(ROWS)], k=RECALL_K).hits
        assert built.recall == pytest.approx(
            recall_of([[h.image_id for h in r] for r in found], vectors)
        )
        assert len(manager.search(vectors[:1], k=50).hits[0]) == 50  # k above ef (10)
    finally:
        manager.close(timeout_s=10)
