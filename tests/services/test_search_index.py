"""IndexManager against Milvus Lite: build, search, swap, drain, failures, restart recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymilvus.exceptions import MilvusException
from search_helpers import IDS, META, VECTORS, Q

from services.search.errors import (
    IndexBuildError,
    NoServingIndexError,
    StaleVersionError,
    UnknownImageError,
    UnknownVersionError,
    VersionExistsError,
)
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.retry import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=2, delay_s=0.01)


def open_manager(path: Path, config: IndexConfig | None = None) -> IndexManager:
    return IndexManager.open(str(path / "milvus.db"), config or IndexConfig(), FAST_RETRY)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[IndexManager]:
    opened = open_manager(tmp_path)
    yield opened
    opened.close(timeout_s=5)


@pytest.fixture
def serving(manager: IndexManager) -> IndexManager:
    """A manager serving version 1 built from the six vectors above."""
    manager.build(1, IDS, VECTORS, META, model_version="m1")
    manager.swap(1)
    return manager


def ids_of(result_hits: list) -> list[str]:
    return [h.image_id for h in result_hits]


def test_search_finds_the_hand_computed_neighbours(serving: IndexManager) -> None:
    result = serving.search(Q, k=3)
    assert (result.version, result.model_version) == (1, "m1")
    assert ids_of(result.hits[0]) == ["b", "c", "a"]
    assert [h.score for h in result.hits[0]] == pytest.approx([0.96, 0.8, 0.6], abs=1e-5)
    assert [h.metadata for h in result.hits[0]] == [{"name": "B"}, {"name": "C"}, {"name": "A"}]


def test_l2_scores_are_negated_distances_best_first(tmp_path: Path) -> None:
    manager = open_manager(tmp_path, IndexConfig(metric="L2"))
    manager.build(1, IDS, VECTORS, META)
    manager.swap(1)
    hits = manager.search(Q, k=3).hits[0]
    assert ids_of(hits) == ["b", "c", "a"]
    assert [h.score for h in hits] == pytest.approx([-0.08, -0.4, -0.8], abs=1e-5)
    manager.close()


def test_many_queries_and_k_beyond_the_index(serving: IndexManager) -> None:
    result = serving.search(np.stack([VECTORS[3], VECTORS[5]]), k=10)
    assert [len(h) for h in result.hits] == [6, 6]
    assert ids_of(result.hits[0])[:2] == ["d", "e"]
    assert ids_of(result.hits[1])[:2] == ["f", "e"]


def test_get_vector_returns_the_stored_row(serving: IndexManager) -> None:
    stored = serving.get_vector("e")
    np.testing.assert_allclose(stored.vector, VECTORS[4])
    assert (stored.metadata, stored.version, stored.model_version) == ({"name": "E"}, 1, "m1")
    with pytest.raises(UnknownImageError, match="zzz"):
        serving.get_vector("zzz")
    with pytest.raises(UnknownImageError):
        serving.get_vector('a" or image_id != "')


def test_nothing_serves_before_the_first_swap(manager: IndexManager) -> None:
    with pytest.raises(NoServingIndexError):
        manager.search(Q, k=1)
    with pytest.raises(NoServingIndexError):
        manager.get_vector("a")
    with pytest.raises(UnknownVersionError):
        manager.swap(1)
    manager.build(1, IDS, VECTORS, META)
    with pytest.raises(NoServingIndexError):
        manager.search(Q, k=1)  # built is not serving


@pytest.mark.parametrize(
    ("vectors", "k", "match"),
    [
        (Q, 0, "k must be between 1 and 1000"),
        (Q, 1001, "k must be between 1 and 1000"),
        (np.ones((1, 3)), 1, "dimension 3, but index version 1 holds vectors of dimension 4"),
        (np.array([[np.nan, 0, 0, 0]]), 1, "NaN"),
        (np.zeros((0, 4)), 1, "non-empty"),
    ],
)
def test_bad_queries_are_refused(
    serving: IndexManager, vectors: np.ndarray, k: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        serving.search(vectors, k)


@pytest.mark.parametrize(
    ("ids", "vectors", "meta", "match"),
    [
        (["a", "a"], VECTORS[:2], META[:2], "occurs 2 times"),
        (IDS[:2], VECTORS[:3], META[:2], "equally many"),
        (["a", 'b"'], VECTORS[:2], META[:2], "quote"),
        (["a", ""], VECTORS[:2], META[:2], "empty"),
        (IDS[:2], np.array([[1, 0], [np.inf, 0]]), META[:2], "image 'b' holds NaN or infinity"),
        (IDS[:1], VECTORS[:1], [{"n": 1}], "strings to strings"),
        ([], np.zeros((0, 4)), [], "non-empty"),
    ],
)
def test_bad_builds_are_refused_and_store_nothing(
    manager: IndexManager, ids: list[str], vectors: np.ndarray, meta: list, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        manager.build(1, ids, vectors, meta)
    assert manager.collections() == []


def test_versions_only_move_forward(serving: IndexManager) -> None:
    with pytest.raises(StaleVersionError, match="not newer than the serving version 1"):
        serving.build(1, IDS, VECTORS, META)
    serving.build(2, IDS, VECTORS, META)
    with pytest.raises(VersionExistsError):
        serving.build(2, IDS, VECTORS, META)
    with pytest.raises(ValueError, match="start at 1"):
        serving.build(0, IDS, VECTORS, META)
    serving.swap(2)
    assert serving.swap(2).version == 2  # swapping to the serving version is a no-op
    with pytest.raises(StaleVersionError):
        serving.swap(1)


def test_swap_drops_the_old_version_only_after_its_queries_drained(serving: IndexManager) -> None:
    serving.build(2, IDS, VECTORS[::-1].copy(), META, model_version="m2")
    with serving.pin() as pinned:
        old = serving.swap(2)
        assert old is not None and old.version == pinned.version == 1
        assert serving.search(Q, k=1).version == 2  # new queries go to version 2 at once
        assert not serving.wait_retired(timeout_s=0.3)  # version 1 is still held
        assert serving.collections() == ["anneal_v1", "anneal_v2"]
    assert serving.wait_retired(timeout_s=10)
    assert serving.collections() == ["anneal_v2"]


def test_failed_build_keeps_the_old_version_serving(serving: IndexManager) -> None:
    # A second manager on the same Milvus whose index type Milvus rejects: every build fails.
    broken = IndexManager(serving._connection, IndexConfig(index_type="NO_SUCH_INDEX"), FAST_RETRY)
    with pytest.raises(IndexBuildError, match="version 2 failed and was rolled back"):
        broken.build(2, IDS, VECTORS, META)
    assert serving.collections() == ["anneal_v1"]
    assert broken.current() is not None and broken.current().version == 1
    assert ids_of(serving.search(Q, k=1).hits[0]) == ["b"]
    serving.build(2, IDS, VECTORS, META)  # the same version builds once the fault is gone
    assert serving.swap(2).version == 1


def test_restart_recovers_the_serving_version_and_drops_unswapped_builds(tmp_path: Path) -> None:
    first = open_manager(tmp_path)
    first.build(1, IDS, VECTORS, META, model_version="m1")
    first.swap(1)
    first.build(2, IDS, VECTORS, META)  # built, never swapped in
    first.close()
    second = open_manager(tmp_path)
    serving = second.current()
    assert serving is not None
    assert (serving.version, serving.count, serving.dim) == (1, 6, 4)
    assert (serving.model_version, serving.index_type, serving.metric) == ("m1", "FLAT", "IP")
    assert ids_of(second.search(Q, k=2).hits[0]) == ["b", "c"]
    assert second.collections() == ["anneal_v1"]
    second.close()


def test_retry_policy_retries_transient_faults_then_gives_up() -> None:
    delays: list[float] = []
    policy = RetryPolicy(attempts=3, delay_s=0.5, sleep=delays.append)
    calls = iter([MilvusException(message="file seems not fully written"), None])

    def flaky() -> str:
        fault = next(calls)
        if fault is not None:
            raise fault
        return "loaded"

    assert policy.run("load", flaky) == "loaded"
    assert delays == [0.5]

    def broken() -> None:
        raise MilvusException(message="still broken")

    with pytest.raises(MilvusException, match="still broken"):
        policy.run("load", broken)
    assert delays == [0.5, 0.5, 1.0]
    with pytest.raises(KeyError):  # not a transient fault: no retry
        policy.run("load", lambda: {}["x"])
    assert delays == [0.5, 0.5, 1.0]


def test_concurrent_searches_during_swaps_see_versions_in_order(serving: IndexManager) -> None:
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            try:
                result = serving.search(Q, k=3)
                assert len(result.hits[0]) == 3
                seen.append(result.version)
            except BaseException as exc:  # recorded, asserted below
                errors.append(exc)

    thread = threading.Thread(target=query)
    thread.start()
    for version in (2, 3):
        serving.build(version, IDS, VECTORS, META)
        serving.swap(version)
    deadline = time.monotonic() + 10
    while (not seen or seen[-1] != 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join()
    assert errors == []
    assert seen == sorted(seen) and seen[-1] == 3
