"""RetrievalService over gRPC: checks queries, hands them to the :class:`Retriever`, times them.

Exceptions are mapped to status codes by the common error interceptor; downstream failures keep
their code (services/retrieval/downstream.py). Outgoing calls get what is left of the caller's
deadline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import grpc

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.deadlines import outgoing_timeout
from services.retrieval.query import Query, parse_batch
from services.retrieval.retriever import Answer, Retriever


def _response(answer: Answer, started: float) -> retrieval_pb2.RetrieveResponse:
    return retrieval_pb2.RetrieveResponse(
        hits=[
            retrieval_pb2.Hit(
                image_id=hit.image_id, score=hit.score, rank=rank, metadata=hit.metadata
            )
            for rank, hit in enumerate(answer.hits, start=1)
        ],
        index_version=answer.index_version,
        model_version=answer.model_version,
        server_time_ms=(time.perf_counter() - started) * 1000,
    )


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    """Thin gRPC face of a :class:`Retriever`."""

    def __init__(self, retriever: Retriever, call_timeout_s: float) -> None:
        self._retriever = retriever
        self._call_timeout_s = call_timeout_s

    def Retrieve(
        self, request: retrieval_pb2.RetrieveRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.RetrieveResponse:
        started = time.perf_counter()
        (answer,) = self._answers([Query.parse(request, "query")], context)
        return _response(answer, started)

    def RetrieveBatch(
        self, request: retrieval_pb2.RetrieveBatchRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.RetrieveBatchResponse:
        started = time.perf_counter()
        answers = self._answers(parse_batch(request.requests), context)
        return retrieval_pb2.RetrieveBatchResponse(
            results=[_response(answer, started) for answer in answers]
        )

    def _answers(self, queries: Sequence[Query], context: grpc.ServicerContext) -> list[Answer]:
        return self._retriever.retrieve(
            queries, lambda: outgoing_timeout(context, self._call_timeout_s)
        )
