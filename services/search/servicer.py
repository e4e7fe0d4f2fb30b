"""SearchService over gRPC: converts messages to IndexManager calls and back.

Exceptions are mapped to status codes by the common error interceptor; the search errors
subclass the common ones (services/search/errors.py), so the codes follow the proto's comments.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.deadlines import time_left
from services.common.vector_chunks import pack_chunks
from services.search.batcher import SearchBatcher
from services.search.build_rows import BuildRows, vectors_matrix
from services.search.errors import IndexBuildError, RecallBelowFloorError
from services.search.index_manager import IndexManager
from services.search.index_reader import IndexReader
from services.search.metrics import (
    INDEX_BUILD_RECALL,
    INDEX_REBUILD_FAILURES,
    INDEX_REBUILD_SECONDS,
    INDEX_VERSION,
)
from services.search.query_checks import check_k
from services.search.search_result import Hit, SearchResult
from services.search.vector_export import ExportBatch

MAX_QUERY_VECTORS = 1000


def _hits_message(hits: list[Hit]) -> search_pb2.QueryHits:
    return search_pb2.QueryHits(
        hits=[
            search_pb2.Hit(image_id=h.image_id, score=h.score, rank=rank, metadata=h.metadata)
            for rank, h in enumerate(hits, start=1)
        ]
    )


def _export_reply(batch: ExportBatch) -> search_pb2.ExportVectorsResponse:
    """An ExportVectors message with the version fields of ``batch`` and no rows yet."""
    return search_pb2.ExportVectorsResponse(
        index_version=batch.version.version,
        model_version=batch.version.model_version,
        count=batch.version.count,
        dim=batch.version.dim,
    )


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    """Thin gRPC face of an :class:`IndexManager`; searches go through a :class:`SearchBatcher`."""

    def __init__(self, manager: IndexManager, batcher: SearchBatcher) -> None:
        self._manager = manager
        self._batcher = batcher
        serving = manager.current()
        INDEX_VERSION.set(serving.version if serving else 0)

    def Search(
        self, request: search_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> search_pb2.SearchResponse:
        check_k(request.k)
        asked = len(request.vectors) + len(request.image_ids)
        if asked > MAX_QUERY_VECTORS:
            raise ValueError(
                f"{asked} queries in one call; the limit is {MAX_QUERY_VECTORS}, split the call"
            )
        if not request.image_ids:
            queries = vectors_matrix(request.vectors, "query vector")
            result = self._batcher.search(queries, request.k, timeout_s=time_left(context))
        else:
            result = self._search_with_ids(request, time_left(context))
        return search_pb2.SearchResponse(
            results=[_hits_message(hits) for hits in result.hits],
            index_version=result.version,
            model_version=result.model_version,
        )

    def _search_with_ids(
        self, request: search_pb2.SearchRequest, timeout_s: float | None
    ) -> SearchResult:
        """Stored vectors read from, and searched on, one held version (the serving one)."""
        with self._manager.pin() as serving:
            stored = self._manager.vectors_of(serving, list(request.image_ids))
            queries = stored
            if request.vectors:
                given = vectors_matrix(request.vectors, "query vector")
                IndexReader.check_dim(given.shape[1], serving)
                queries = np.concatenate([given, stored])
            return self._batcher.search(queries, request.k, timeout_s, serving)

    def GetVector(
        self, request: search_pb2.GetVectorRequest, context: grpc.ServicerContext
    ) -> search_pb2.GetVectorResponse:
        stored = self._manager.get_vector(request.image_id)
        return search_pb2.GetVectorResponse(
            vector=search_pb2.Vector(values=stored.vector.tolist()),
            metadata=stored.metadata,
            index_version=stored.version,
            model_version=stored.model_version,
        )

    def BuildIndex(
        self,
        request_iterator: Iterator[search_pb2.BuildIndexRequest],
        context: grpc.ServicerContext,
    ) -> search_pb2.BuildIndexResponse:
        options: search_pb2.BuildOptions | None = None
        gathered = BuildRows()
        for position, message in enumerate(request_iterator):
            if position == 0:
                if not message.HasField("options"):
                    raise ValueError("the first BuildIndex message must carry options")
                options = message.options
            elif message.HasField("options"):
                raise ValueError(f"message {position} carries options; only the first may")
            gathered.add(message, position)
        if options is None:
            raise ValueError("empty BuildIndex stream; send options and items")
        ids, vectors, metadata = gathered.rows()
        started = time.perf_counter()
        try:
            built = self._manager.build(
                options.version, ids, vectors, metadata, options.model_version
            )
        except RecallBelowFloorError as exc:
            INDEX_BUILD_RECALL.set(exc.recall)
            INDEX_REBUILD_FAILURES.inc()
            raise
        except IndexBuildError:
            INDEX_REBUILD_FAILURES.inc()
            raise
        recall = 1.0 if built.recall is None else built.recall
        INDEX_BUILD_RECALL.set(recall)
        seconds = time.perf_counter() - started
        INDEX_REBUILD_SECONDS.observe(seconds)
        if options.swap:
            self._swap(built.version)
        return search_pb2.BuildIndexResponse(
            version=built.version,
            count=built.count,
            dim=built.dim,
            build_seconds=seconds,
            swapped=options.swap,
            recall=recall,
        )

    def AddToIndex(
        self,
        request_iterator: Iterator[search_pb2.AddToIndexRequest],
        context: grpc.ServicerContext,
    ) -> search_pb2.AddToIndexResponse:
        version = 0
        gathered = BuildRows()
        for position, message in enumerate(request_iterator):
            if position == 0:
                version = message.version
                if version < 1:
                    raise ValueError(
                        "the first AddToIndex message must name the serving index version (1+)"
                    )
            elif message.version not in (0, version):
                raise ValueError(
                    f"message {position} names index version {message.version}, the first"
                    f" {version}; one call adds to one version"
                )
            if message.HasField("chunk"):
                gathered.add_chunk(message.chunk, f"the chunk of message {position}")
        if version == 0 or not gathered:
            raise ValueError("no rows to add; send the version and the rows as packed chunks")
        ids, vectors, metadata = gathered.rows()
        added = self._manager.add(version, ids, vectors, metadata)
        return search_pb2.AddToIndexResponse(
            version=version,
            added=added.added,
            already_present=added.already_present,
            count=added.version.count,
        )

    def SwapIndex(
        self, request: search_pb2.SwapIndexRequest, context: grpc.ServicerContext
    ) -> search_pb2.SwapIndexResponse:
        previous = self._swap(request.version)
        return search_pb2.SwapIndexResponse(version=request.version, previous_version=previous)

    def _swap(self, version: int) -> int:
        previous = self._manager.swap(version)
        INDEX_VERSION.set(version)
        return previous.version if previous is not None and previous.version != version else 0

    def ExportVectors(
        self, request: search_pb2.ExportVectorsRequest, context: grpc.ServicerContext
    ) -> Iterator[search_pb2.ExportVectorsResponse]:
        batches = self._manager.export(
            request.version, request.batch_size, request.include_metadata
        )
        for batch in batches:
            if request.packed:
                for chunk in pack_chunks(batch.ids, batch.vectors, batch.metadata):
                    reply = _export_reply(batch)
                    reply.chunk.CopyFrom(chunk)
                    yield reply
                continue
            metadata = batch.metadata or [{} for _ in batch.ids]
            reply = _export_reply(batch)
            reply.items.extend(
                search_pb2.IndexItem(
                    image_id=image_id, vector=search_pb2.Vector(values=vector), metadata=meta
                )
                for image_id, vector, meta in zip(
                    batch.ids, batch.vectors.tolist(), metadata, strict=True
                )
            )
            yield reply

    def GetIndexInfo(
        self, request: search_pb2.GetIndexInfoRequest, context: grpc.ServicerContext
    ) -> search_pb2.GetIndexInfoResponse:
        serving = self._manager.current()
        if serving is None:
            return search_pb2.GetIndexInfoResponse(has_index=False)
        return search_pb2.GetIndexInfoResponse(
            has_index=True,
            version=serving.version,
            model_version=serving.model_version,
            count=serving.count,
            dim=serving.dim,
            index_type=serving.index_type,
            metric=serving.metric,
        )
