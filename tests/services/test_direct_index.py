"""Retrieval reading a Milvus server directly (DirectIndex) beside the search service's writer.

Against the session's real Milvus 2.3.5 server; the hand-made vectors of search_helpers give
the answers (for Q: b 0.96, c 0.8, a 0.6). The writer is an IndexManager with its own prefix;
the reader follows its alias.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from search_helpers import IDS, META, VECTORS, Q

from services.retrieval.direct_index import DirectIndex
from services.search.errors import NoServingIndexError, UnknownImageError
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.milvus_connection import MilvusConnection
from services.search.retry import RetryPolicy

pytestmark = pytest.mark.integration

REFRESH_S = 0.2


@pytest.fixture
def server_uri(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("milvus_server_uri"))


@pytest.fixture
def config(request: pytest.FixtureRequest) -> IndexConfig:
    return IndexConfig(prefix="d_" + request.node.name.replace("test_", "")[:40], retire_grace_s=1)


@pytest.fixture
def writer(server_uri: str, config: IndexConfig) -> Iterator[IndexManager]:
    opened = IndexManager.open(server_uri, config, RetryPolicy(attempts=3, delay_s=0.2))
    yield opened
    opened.close(timeout_s=10)


@pytest.fixture
def index(server_uri: str, config: IndexConfig) -> Iterator[DirectIndex]:
    """A reader of the writer's prefix (whatever serves when the test starts it reading)."""
    opened = DirectIndex(MilvusConnection.open(server_uri), config, refresh_s=REFRESH_S)
    yield opened
    opened.close()


@pytest.fixture
def serving_v1(writer: IndexManager) -> IndexManager:
    """The writer with version 1 (model m1) built and swapped in."""
    writer.build(1, IDS, VECTORS, META, model_version="m1")
    writer.swap(1)
    return writer


def ids_of(result_hits: list) -> list[str]:
    return [hit.image_id for hit in result_hits]


def test_reads_what_the_search_service_would_answer(
    serving_v1: IndexManager, index: DirectIndex
) -> None:
    assert index.serving_model(None) == "m1"
    result = index.search(Q, [("query 1", "c")], k=3, timeout_s=10)
    assert (result.version, result.model_version) == (1, "m1")
    assert ids_of(result.hits[0]) == ["b", "c", "a"]  # by vector
    assert ids_of(result.hits[1]) == ids_of(serving_v1.search(VECTORS[2:3], 3).hits[0])  # by id
    assert result.hits[0][0].metadata == {"name": "B"}
    assert result.hits[0][0].score == pytest.approx(0.96, abs=1e-5)


def test_follows_a_swap_forward_and_answers_from_the_new_version(
    serving_v1: IndexManager, index: DirectIndex
) -> None:
    serving_v1.build(2, IDS, -VECTORS, META, model_version="m2")
    serving_v1.swap(2)
    deadline = time.monotonic() + 10
    while index.serving_model(None) != "m2" and time.monotonic() < deadline:
        time.sleep(REFRESH_S / 2)
    result = index.search(Q, [], k=3, timeout_s=10)
    assert (result.version, result.model_version) == (2, "m2")
    assert ids_of(result.hits[0])[0] != "b"  # reversed similarity


def test_names_the_query_whose_image_is_not_in_the_index(
    serving_v1: IndexManager, index: DirectIndex
) -> None:
    with pytest.raises(UnknownImageError, match="query 2: archive image 'zz'"):
        index.search(None, [("query 1", "a"), ("query 2", "zz")], k=2, timeout_s=10)
    with pytest.raises(ValueError, match="dimension 3"):
        index.search(np.ones((1, 3), np.float32), [], k=2, timeout_s=10)


def test_before_the_first_swap_there_is_no_serving_model(
    writer: IndexManager, index: DirectIndex
) -> None:
    assert index.serving_model(None) is None
    with pytest.raises(NoServingIndexError):
        index.search(Q, [], k=2, timeout_s=10)


def test_a_search_on_a_dropped_version_moves_to_the_serving_one(
    server_uri: str, config: IndexConfig
) -> None:
    eager = IndexManager.open(server_uri, IndexConfig(prefix=config.prefix), RetryPolicy(1, 0.1))
    try:
        eager.build(1, IDS, VECTORS, META, model_version="m1")
        eager.swap(1)
        index = DirectIndex(MilvusConnection.open(server_uri), config, refresh_s=3600)
        try:
            eager.build(2, IDS, -VECTORS, META, model_version="m2")
            eager.swap(2)
            assert eager.wait_retired(timeout_s=30)  # v1 dropped, the reader not told
            result = index.search(Q, [], k=3, timeout_s=10)
            assert (result.version, result.model_version) == (2, "m2")
        finally:
            index.close()
    finally:
        eager.close(timeout_s=10)


def test_images_added_in_place_are_found_at_once_and_read_again_on_refresh(
    writer: IndexManager, index: DirectIndex
) -> None:
    writer.build(1, IDS[:4], VECTORS[:4], META[:4], model_version="m1")
    writer.swap(1)
    assert index.refresh() is not None and index.serving().count == 4  # type: ignore[union-attr]
    writer.add(1, IDS[4:], VECTORS[4:], META[4:])
    # Before the reader notices: e and f come from Milvus, not its rows in memory.
    result = index.search(VECTORS[5:6], [("query 1", "e")], k=2, timeout_s=10)
    assert [(h.image_id, h.metadata) for h in result.hits[0]] == [
        ("f", {"name": "F"}),
        ("e", {"name": "E"}),
    ]
    assert ids_of(result.hits[1]) == ["e", "f"]
    deadline = time.monotonic() + 10
    while index.serving().count != 6:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the reader never saw the added rows"
        time.sleep(REFRESH_S)
    assert index.serving().version == 1  # type: ignore[union-attr]
    result = index.search(VECTORS[5:6], [], k=2, timeout_s=10)
    assert [(h.image_id, h.metadata) for h in result.hits[0]] == [
        ("f", {"name": "F"}),
        ("e", {"name": "E"}),
    ]
