"""Builds the search service's gRPC server around an :class:`IndexManager`."""

from __future__ import annotations

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding
from services.common.server import create_server as create_common_server
from services.search.batcher import SearchBatcher
from services.search.index_manager import IndexManager
from services.search.servicer import SearchServicer
from services.security.server_security import ServerSecurity


def create_server(
    address: str,
    manager: IndexManager,
    batcher: SearchBatcher | None = None,
    *,
    security: ServerSecurity,
) -> tuple[AnnealServer, int]:
    """The (not yet started) search server bound to ``address``, and its port.

    Searches are coalesced by ``batcher``; by default one that waits for no stragglers and
    batches whatever queued up while the previous search ran.
    """
    servicer = SearchServicer(manager, batcher or SearchBatcher(manager.search))
    binding = ServiceBinding.of(
        search_pb2, "SearchService", servicer, search_pb2_grpc.add_SearchServiceServicer_to_server
    )
    return create_common_server(address, [binding], security)
