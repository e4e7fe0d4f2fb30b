"""Builds the retrieval service's gRPC server around a channel to embedding and the index."""

from __future__ import annotations

import grpc

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding
from services.common.server import create_server as create_common_server
from services.retrieval.embedding_client import EmbeddingClient
from services.retrieval.index_access import IndexAccess
from services.retrieval.retriever import Retriever
from services.retrieval.servicer import RetrievalServicer
from services.security.server_security import ServerSecurity

DEFAULT_CALL_TIMEOUT_S = 30.0


def create_server(
    address: str,
    embedding: grpc.Channel,
    index: IndexAccess,
    call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
    *,
    security: ServerSecurity,
) -> tuple[AnnealServer, int]:
    """The (not yet started) retrieval server bound to ``address``, and its port.

    ``index``: the search service (SearchClient) or a Milvus server read directly
    (DirectIndex). Downstream calls take what is left of the caller's deadline, at most
    ``call_timeout_s`` (also the limit when the caller set no deadline).
    """
    retriever = Retriever(EmbeddingClient(embedding), index)
    binding = ServiceBinding.of(
        retrieval_pb2,
        "RetrievalService",
        RetrievalServicer(retriever, call_timeout_s),
        retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server,
    )
    return create_common_server(address, [binding], security)
