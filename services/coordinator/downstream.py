"""The calls the coordinator makes to the other services, with retries of transient failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import numpy as np

from anneal.al.labelled_pairs import Answer
from anneal.al.round_parameters import RoundParameters
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.search.v1 import search_pb2, search_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.common.earlier_answers import answers_of, up_to_request
from services.common.vector_chunks import pack_chunks, unpack_chunk

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
)
CALL_TIMEOUT_S = 120.0
BUILD_TIMEOUT_S = 3600.0
"""Longest wait for one BuildIndex: streaming the rows, Milvus's index build over them (minutes
at a million rows) and the recall check; a retry would start the build over."""
EXPORT_BATCH = 10_000
"""Rows per Milvus page when reading which ids an index version holds."""


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call may work when retried (the service is restarting, Milvus flaked)."""
    return isinstance(exc, grpc.RpcError) and exc.code() in TRANSIENT


def retried(what: str, call: Callable[[], T], attempts: int = 5, delay_s: float = 1.0) -> T:
    """``call()``, retried with doubling delays while it fails transiently."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except grpc.RpcError as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            log.warning("%s failed (%s), retry %d/%d", what, exc.code().name, attempt, attempts)
            time.sleep(delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class IndexInfo:
    version: int
    model_version: str
    count: int


class Downstream:
    """Stubs of selection, labels, search and (optionally) embedding."""

    def __init__(
        self,
        selection: grpc.Channel,
        labels: grpc.Channel,
        search: grpc.Channel,
        embedding: grpc.Channel | None,
    ) -> None:
        self.selection = selection_pb2_grpc.SelectionServiceStub(selection)
        self.labels = labels_pb2_grpc.LabelServiceStub(labels)
        self.search = search_pb2_grpc.SearchServiceStub(search)
        self.embedding = embedding_pb2_grpc.EmbeddingServiceStub(embedding) if embedding else None

    # -- selection and labels -----------------------------------------------------------------

    def select(self, round_number: int, parameters: RoundParameters, index_version: int) -> int:
        """Open the round on the selection service (idempotent); the number of pairs."""
        request = selection_pb2.StartRoundRequest(
            round=round_number,
            strategy=parameters.strategy,
            budget=parameters.budget,
            seed=parameters.seed,
            index_version=index_version,
        )
        reply = retried(
            "StartRound", lambda: self.selection.StartRound(request, timeout=CALL_TIMEOUT_S)
        )
        return len(reply.pairs)

    def labelled_pairs(self, round_number: int) -> int:
        request = labels_pb2.GetRoundProgressRequest(round=round_number)
        return int(self.labels.GetRoundProgress(request, timeout=10).labelled_pairs)

    def close_labels(self, round_number: int) -> None:
        request = labels_pb2.CloseRoundRequest(round=round_number)
        retried("CloseRound", lambda: self.labels.CloseRound(request, timeout=10))

    def answers(self, rounds: Sequence[int]) -> list[Answer]:
        """(image_a, image_b, similar) of the resolved labels of ``rounds``, in one call."""
        wanted = set(rounds)
        if not wanted:
            return []
        request = up_to_request(wanted)
        reply = retried(
            "GetResolvedLabels",
            lambda: self.labels.GetResolvedLabels(request, timeout=CALL_TIMEOUT_S),
        )
        return answers_of(reply, wanted)

    # -- search -------------------------------------------------------------------------------

    def serving_index(self) -> IndexInfo | None:
        info = retried(
            "GetIndexInfo",
            lambda: self.search.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=10),
        )
        if not info.has_index:
            return None
        return IndexInfo(int(info.version), info.model_version, int(info.count))

    def build_index(
        self,
        version: int,
        model_version: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, str]],
    ) -> float:
        """Build (loaded and verified by the search service) ``version``; its build seconds.

        The rows go as packed float32 chunks of at most 2 MiB (services/common/vector_chunks.py).

        ALREADY_EXISTS means this version was built before a restart of ours and not yet
        swapped: it is used as is.
        """

        def stream() -> Iterator[search_pb2.BuildIndexRequest]:
            options = search_pb2.BuildOptions(version=version, model_version=model_version)
            yield search_pb2.BuildIndexRequest(options=options)
            for chunk in pack_chunks(ids, vectors, metadata):
                yield search_pb2.BuildIndexRequest(chunk=chunk)

        try:
            reply = retried(
                "BuildIndex", lambda: self.search.BuildIndex(stream(), timeout=BUILD_TIMEOUT_S)
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                log.info("index version %d was built already; using it", version)
                return 0.0
            raise
        if reply.count != len(ids):
            raise RuntimeError(
                f"index version {version} holds {reply.count} images, expected {len(ids)}"
            )
        return float(reply.build_seconds)

    def add_to_index(
        self,
        version: int,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, str]],
    ) -> IndexInfo:
        """Add rows to the serving ``version`` in place (AddToIndex, packed chunks); the index
        as it is now. Ids it holds already are skipped there, so a retry is harmless."""

        def stream() -> Iterator[search_pb2.AddToIndexRequest]:
            for position, chunk in enumerate(pack_chunks(ids, vectors, metadata)):
                first = version if position == 0 else 0
                yield search_pb2.AddToIndexRequest(version=first, chunk=chunk)

        reply = retried(
            "AddToIndex", lambda: self.search.AddToIndex(stream(), timeout=CALL_TIMEOUT_S * 5)
        )
        log.info(
            "index version %d: %d images added, %d there already, %d in all",
            version,
            reply.added,
            reply.already_present,
            reply.count,
        )
        return IndexInfo(int(reply.version), "", int(reply.count))

    def indexed_ids(self, version: int) -> set[str]:
        """The image ids index ``version`` holds (one packed ExportVectors stream)."""

        def export() -> set[str]:
            request = search_pb2.ExportVectorsRequest(
                version=version, batch_size=EXPORT_BATCH, packed=True
            )
            found: set[str] = set()
            for position, reply in enumerate(
                self.search.ExportVectors(request, timeout=CALL_TIMEOUT_S * 5)
            ):
                found.update(unpack_chunk(reply.chunk, f"export message {position}").ids)
            return found

        return retried("ExportVectors", export)

    def swap_index(self, version: int) -> bool:
        """Serve ``version``; False when the search service has no build of it (NOT_FOUND: it
        restarted since the build, which lives in its memory until swapped)."""
        request = search_pb2.SwapIndexRequest(version=version)
        try:
            retried("SwapIndex", lambda: self.search.SwapIndex(request, timeout=60))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return True

    # -- embedding ----------------------------------------------------------------------------

    def load_model(self, model_version: str, checkpoint: str, make_default: bool) -> None:
        """Load a version into the embedding service (no-op without one)."""
        if self.embedding is None:
            return
        stub = self.embedding
        request = embedding_pb2.LoadModelRequest(
            model_version=model_version, checkpoint_path=checkpoint, make_default=make_default
        )
        retried("LoadModel", lambda: stub.LoadModel(request, timeout=CALL_TIMEOUT_S * 5))

    def loaded_models(self) -> set[str] | None:
        """Versions the embedding service holds (None without one)."""
        if self.embedding is None:
            return None
        reply = self.embedding.GetModelInfo(embedding_pb2.GetModelInfoRequest(), timeout=10)
        return {m.model_version for m in reply.models}
