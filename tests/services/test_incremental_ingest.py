"""Images added to the archive are indexed in place: only the new ones are read, embedded and
sent, into the serving index version, whose number stays.

Search service (Milvus Lite, hand-made 4-D vectors): ``AddToIndex`` grows the serving version,
old rows keep their vectors, the new rows are found (rows held in memory and not), ids held
already are skipped, a failed addition is undone, and bad calls get precise codes. Coordinator
(the tiny colour archive of round_helpers, all services on loopback): ``IngestArchive`` computes
the features of exactly the added images, grows the serving index by them at the same version,
does nothing when nothing is new, and after a restart neither recomputes nor rebuilds, but adds
images put in the folder while it was down; an ingest is refused while a round runs (``anneal
ingest`` says so in one line), selection sees the new images, and an ingest after a round embeds
with that round's model."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest
from milvus_faults import FaultyMilvusClient, milvus_error
from round_helpers import Stack, add_image, answer, wait_for
from search_helpers import IDS, META, VECTORS, Q, build_stream, search_request

from anneal.data.archive import Archive
from anneal.models.encoded_features import ImageFeatures, encoded_features
from anneal.models.registry import build_backbone
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.cli.main import main
from services.common.vector_chunks import pack_chunks
from services.coordinator.model_workspace import WorkspaceConfig
from services.coordinator.round_states import HANDLERS, RoundContext
from services.coordinator.round_status import RoundState, RoundStatus, Serving
from services.coordinator.runner_factory import prepare_runner
from services.search.index_config import IndexConfig
from services.search.index_manager import IndexManager
from services.search.milvus_connection import MilvusConnection
from services.search.retry import RetryPolicy
from services.search.server import create_server
from services.security.server_security import ServerSecurity
from services.selection.vector_source import SearchServiceVectors

pytestmark = pytest.mark.integration
V1 = f"{IndexConfig().prefix}_v1"


# -- the search service's AddToIndex -----------------------------------------------------------


@pytest.fixture(params=["rows in memory", "rows in Milvus only"])
def search(serve, tmp_path: Path, request) -> Iterator[search_pb2_grpc.SearchServiceStub]:
    """A search service serving version 1 = a, b, c, d (e and f are left to add)."""
    in_memory = IndexConfig().rows_in_memory_max_bytes if request.param == "rows in memory" else 0
    manager = IndexManager.open(
        str(tmp_path / "milvus.db"), IndexConfig(rows_in_memory_max_bytes=in_memory)
    )
    stub = search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=ServerSecurity.insecure()))
    )
    stub.BuildIndex(build_stream(1, IDS[:4], VECTORS[:4], META[:4], model_version="m", swap=True))
    assert manager.in_memory(1) == (request.param == "rows in memory")
    yield stub
    manager.close(timeout_s=5)


def add_stream(
    version: int, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[dict[str, str]]
) -> Iterator[search_pb2.AddToIndexRequest]:
    """One row per chunk, the version in the first message only (as the coordinator sends)."""
    for row, image_id in enumerate(ids):
        (chunk,) = pack_chunks([image_id], vectors[row : row + 1], [metadata[row]])
        yield search_pb2.AddToIndexRequest(version=version if row == 0 else 0, chunk=chunk)


def exported(stub: search_pb2_grpc.SearchServiceStub) -> dict[str, list[float]]:
    request = search_pb2.ExportVectorsRequest(version=1, batch_size=100)
    return {
        item.image_id: list(item.vector.values)
        for reply in stub.ExportVectors(request)
        for item in reply.items
    }


def test_add_to_index_grows_the_serving_version_in_place(
    search: search_pb2_grpc.SearchServiceStub,
) -> None:
    before = exported(search)
    reply = search.AddToIndex(add_stream(1, IDS[4:], VECTORS[4:], META[4:]))
    assert (reply.version, reply.added, reply.already_present, reply.count) == (1, 2, 0, 6)
    info = search.GetIndexInfo(search_pb2.GetIndexInfoRequest())
    assert (info.version, info.count, info.model_version) == (1, 6, "m")
    after = exported(search)
    assert set(after) == set(IDS)
    assert {i: after[i] for i in before} == before  # the old rows' vectors are untouched
    # f = (0, 0, 0, 1): itself first, then e (0.8), then the rest (0).
    (by_id,) = search.Search(search_pb2.SearchRequest(image_ids=["f"], k=2)).results
    assert [(h.image_id, dict(h.metadata)) for h in by_id.hits] == [
        ("f", {"name": "F"}),
        ("e", {"name": "E"}),
    ]
    stored = search.GetVector(search_pb2.GetVectorRequest(image_id="e"))
    assert list(stored.vector.values) == VECTORS[4].tolist()  # e = (0, 0, 0.6, 0.8)
    assert dict(stored.metadata) == {"name": "E"}
    (by_vector,) = search.Search(search_request(Q, k=3)).results  # the answer worked out by hand
    assert [h.image_id for h in by_vector.hits] == ["b", "c", "a"]


def test_ids_the_version_holds_are_skipped(search: search_pb2_grpc.SearchServiceStub) -> None:
    reply = search.AddToIndex(add_stream(1, ["d", "e"], VECTORS[[5, 4]], [{}, META[4]]))
    assert (reply.added, reply.already_present, reply.count) == (1, 1, 5)
    again = search.AddToIndex(add_stream(1, ["d", "e"], VECTORS[[5, 4]], [{}, META[4]]))
    assert (again.added, again.already_present, again.count) == (0, 2, 5)
    assert exported(search)["d"] == VECTORS[3].tolist()  # not overwritten by the second vector


def refusal(call, requests) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call(requests)
    return info.value.code(), info.value.details() or ""


def test_bad_additions_are_refused_with_precise_codes(
    search: search_pb2_grpc.SearchServiceStub,
) -> None:
    add = search.AddToIndex
    e, f = VECTORS[4:5], VECTORS[5:6]
    code, details = refusal(add, add_stream(7, ["e"], e, [{}]))
    assert code is grpc.StatusCode.NOT_FOUND and "add to the serving version" in details
    search.BuildIndex(build_stream(2, IDS, VECTORS))  # built, not swapped in
    code, details = refusal(add, add_stream(2, ["e"], e, [{}]))
    assert code is grpc.StatusCode.FAILED_PRECONDITION and "swap to it first" in details
    code, details = refusal(add, add_stream(0, ["e"], e, [{}]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "version" in details
    code, details = refusal(add, add_stream(1, ["e", "e"], np.vstack([e, f]), [{}, {}]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "occurs 2 times" in details
    code, details = refusal(add, add_stream(1, ["e"], np.ones((1, 3), np.float32), [{}]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "dimension 3" in details
    code, details = refusal(add, iter([search_pb2.AddToIndexRequest(version=1)]))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "no rows" in details
    mixed = [*add_stream(1, ["e"], e, [{}]), search_pb2.AddToIndexRequest(version=2)]
    code, details = refusal(add, iter(mixed))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "one call adds to one version" in details
    assert search.GetIndexInfo(search_pb2.GetIndexInfoRequest()).count == 4  # nothing added


def test_adding_before_any_index_serves_is_a_failed_precondition(serve, tmp_path: Path) -> None:
    manager = IndexManager.open(str(tmp_path / "milvus.db"), IndexConfig())
    stub = search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=ServerSecurity.insecure()))
    )
    try:
        code, details = refusal(stub.AddToIndex, add_stream(1, ["e"], VECTORS[4:5], [{}]))
        assert code is grpc.StatusCode.FAILED_PRECONDITION and "no index" in details
    finally:
        manager.close(timeout_s=5)


def test_a_failed_addition_is_undone_and_a_retry_adds_the_rows(serve, tmp_path: Path) -> None:
    client = FaultyMilvusClient(str(tmp_path / "milvus.db"))
    manager = IndexManager(MilvusConnection(client), IndexConfig(), RetryPolicy(2, 0.01))
    stub = search_pb2_grpc.SearchServiceStub(
        serve(create_server("127.0.0.1:0", manager, security=ServerSecurity.insecure()))
    )
    try:
        stub.BuildIndex(build_stream(1, IDS[:4], VECTORS[:4], META[:4], swap=True))
        client.inject("flush", V1, milvus_error("flush"))
        code, details = refusal(stub.AddToIndex, add_stream(1, IDS[4:], VECTORS[4:], META[4:]))
        assert code is grpc.StatusCode.UNAVAILABLE and "undone" in details and "retry" in details
        assert stub.GetIndexInfo(search_pb2.GetIndexInfoRequest()).count == 4
        assert set(exported(stub)) == set(IDS[:4])  # the inserted rows were deleted again
        code, _ = refusal(stub.GetVector, search_pb2.GetVectorRequest(image_id="e"))
        assert code is grpc.StatusCode.NOT_FOUND  # nor kept in memory
        client.clear()
        reply = stub.AddToIndex(add_stream(1, IDS[4:], VECTORS[4:], META[4:]))
        assert (reply.added, reply.already_present, reply.count) == (2, 0, 6)
        assert set(exported(stub)) == set(IDS)
    finally:
        manager.close(timeout_s=5)


# -- the coordinator's IngestArchive -----------------------------------------------------------


class CountingExtractor:
    """The default in-process feature computation, counting the images it is given."""

    def __init__(self) -> None:
        self.images = 0
        self._backbone = build_backbone("efficientnet-lite0")

    def __call__(self, images: Sequence[bytes]) -> Sequence[ImageFeatures]:
        self.images += len(images)
        return encoded_features(self._backbone, images, "cpu")


@pytest.fixture
def stack(serve, tmp_path: Path) -> Iterator[Stack]:
    built = Stack(serve, tmp_path)
    yield built
    built.close()


def add_images(stack: Stack, count: int, first: int = 6, seed: int = 1) -> list[str]:
    """Write ``count`` more images into the archive folder, one class after another."""
    rng = np.random.default_rng(seed)
    names = ("red", "green", "blue")
    return [add_image(stack.root / "archive", names[i % 3], first + i, rng) for i in range(count)]


def index_info(stack: Stack) -> search_pb2.GetIndexInfoResponse:
    return search_pb2_grpc.SearchServiceStub(stack.search).GetIndexInfo(
        search_pb2.GetIndexInfoRequest()
    )


def stored_rows(stack: Stack) -> dict[str, list[float]]:
    serving = stack.manager.current()
    assert serving is not None
    return {
        image_id: vector
        for batch in stack.manager.export(serving.version, 1000)
        for image_id, vector in zip(batch.ids, batch.vectors.tolist(), strict=True)
    }


def start(
    stack: Stack, extractor: CountingExtractor
) -> coordinator_pb2_grpc.CoordinatorServiceStub:
    """Start the coordinator and wait until it is ready (an index serves, ids compared)."""
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(stack.start_coordinator(extractor=extractor))
    coordinator = stack.coordinator
    assert coordinator is not None
    deadline = time.monotonic() + 120
    while coordinator.not_ready():
        assert time.monotonic() < deadline, coordinator.not_ready()
        time.sleep(0.1)
    return stub


def test_ingest_indexes_only_the_added_images_in_place_and_survives_a_restart(
    stack: Stack,
) -> None:
    extractor = CountingExtractor()
    stub = start(stack, extractor)
    assert extractor.images == 18
    info = index_info(stack)
    assert (info.version, info.count, info.model_version) == (1, 18, "round-0-d8")
    before = stored_rows(stack)

    added = add_images(stack, 3)
    reply = stub.IngestArchive(pb.IngestArchiveRequest())
    assert (reply.added, reply.unreadable, reply.index_version, reply.indexed) == (3, 0, 1, 21)
    assert reply.model_version == "round-0-d8"
    assert extractor.images == 18 + 3  # the features of exactly the three new images
    info = index_info(stack)
    assert (info.version, info.count) == (1, 21)
    assert stack.manager.collections() == [V1]  # no other version was built
    after = stored_rows(stack)
    assert set(after) == set(before) | set(added)
    assert {i: after[i] for i in before} == before  # the old rows' vectors are unchanged
    search = search_pb2_grpc.SearchServiceStub(stack.service_channel("retrieval", "search"))
    found = search.Search(search_pb2.SearchRequest(image_ids=added, k=3)).results
    assert [hits.hits[0].image_id for hits in found] == added  # each new image finds itself
    assert found[0].hits[0].metadata["path"] == added[0]

    again = stub.IngestArchive(pb.IngestArchiveRequest())
    assert (again.added, again.indexed) == (0, 21)
    assert extractor.images == 21  # nothing new: nothing computed

    stack.stop_coordinator()
    late = add_images(stack, 1, first=9, seed=2)  # added while the coordinator is down
    restarted = CountingExtractor()
    stub = start(stack, restarted)
    assert restarted.images == 1  # the other 21 come from the feature cache
    wait_for(stub, lambda r: index_info(stack).count == 22)
    info = index_info(stack)
    assert (info.version, info.count) == (1, 22)  # the late image added, nothing rebuilt
    assert stack.manager.collections() == [V1]
    assert set(stored_rows(stack)) == set(after) | set(late)


def test_ingest_is_refused_during_a_round_and_selection_sees_the_new_images(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = start(stack, CountingExtractor())
    vectors = SearchServiceVectors(
        stack.service_channel("selection", "search"),
        lambda: Archive.from_folder(stack.root / "archive").ids,
    )
    assert len(vectors.vectors(1, timeout_s=30).ids) == 18
    added = add_images(stack, 3)
    assert len(vectors.vectors(1, timeout_s=30).ids) == 18  # in the folder, not indexed yet
    stub.IngestArchive(pb.IngestArchiveRequest())
    assert set(added) <= set(vectors.vectors(1, timeout_s=30).ids)  # same version, grown

    started = stub.StartRound(pb.StartRoundRequest(strategy="random", budget=40, seed=0)).status
    cli = ["ingest", "--coordinator", f"127.0.0.1:{stack.server_port}"]
    cli += ["--state-dir", str(stack.state_dir)]  # the CA and the operator's token
    assert main(cli) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("anneal: FAILED_PRECONDITION: round 1 is still collecting;")
    assert "wait for it to finish" in err
    pairs = {(p.image_a, p.image_b) for p in pending_pairs(stack, started.round)}
    assert any(a in added or b in added for a, b in pairs)  # 40 of 210 pairs: some have one
    answer(stack, started.round)
    stub.CloseRound(pb.CloseRoundRequest(round=started.round))
    done = wait_for(stub, lambda r: r.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED))
    assert done.round.state == pb.ROUND_STATE_DONE, done.round.error
    assert (index_info(stack).version, index_info(stack).count) == (2, 21)  # re-embedded all

    late = add_images(stack, 1, first=9, seed=2)
    (stack.root / "archive" / "red" / "red99.png").write_bytes(b"not an image")
    assert main(cli) == 0  # embedded with the serving model, round 1's
    out = " ".join(capsys.readouterr().out.split())
    assert "1 new images indexed in index version 2 (model round-1): 22 images in all" in out
    assert "1 unreadable files left out" in out
    assert (index_info(stack).version, index_info(stack).count) == (2, 22)
    assert set(late) <= set(vectors.vectors(2, timeout_s=30).ids)


def pending_pairs(stack: Stack, round_number: int):  # type: ignore[no-untyped-def]
    from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc

    stub = selection_pb2_grpc.SelectionServiceStub(stack.selection)
    request = selection_pb2.ListPendingPairsRequest(round=round_number)
    return stub.ListPendingPairs(request).pairs


def test_a_round_resumed_with_embeddings_saved_before_images_were_added_embeds_again(
    stack: Stack,
) -> None:
    """INDEXING after a restart with more archive images than the round's saved embeddings
    (images copied in while the coordinator was down) goes back to EMBEDDING and builds from
    new embeddings of all."""
    start(stack, CountingExtractor())
    stack.stop_coordinator()
    saved_ids = Archive.from_folder(stack.root / "archive").ids
    add_images(stack, 2)
    folder = stack.state_dir / "coordinator"
    config = WorkspaceConfig(dim=8, cache_dir=str(stack.root / "features"))
    runner = prepare_runner(stack.root / "archive", folder / "models", config, stack.downstream)
    assert len(runner.workspace.ids) == 20
    checkpoint = str(runner.workspace.checkpoint(runner.workspace.model_version(0)))
    status = RoundStatus(
        1, "random", 4, 0, True, model_version="round-0-d8", checkpoint=checkpoint, index_version=2
    )
    # what EMBEDDING saved before the images came
    stack.embeddings.write(2, "round-0-d8", saved_ids, np.ones((18, 8), np.float32))
    context = RoundContext(runner, Serving(1, "round-0-d8"), [], stack.embeddings)
    outcome = HANDLERS[RoundState.INDEXING](status, context)
    assert outcome.next is RoundState.EMBEDDING
    assert HANDLERS[RoundState.EMBEDDING](status, context).next is RoundState.INDEXING
    assert HANDLERS[RoundState.INDEXING](status, context).next is RoundState.SWAPPING
    built = list(stack.manager.export(2, 1000))
    assert sum(len(batch.ids) for batch in built) == 20
    assert not any(np.allclose(batch.vectors, batch.vectors[0]) for batch in built)
