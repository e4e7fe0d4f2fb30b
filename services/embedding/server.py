"""Builds the embedding service's gRPC server around a worker pool and its model catalog."""

from __future__ import annotations

from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.common.server import AnnealServer, ServiceBinding
from services.common.server import create_server as create_common_server
from services.embedding.archive_images import ArchiveImages
from services.embedding.image_stream import ImageAssembler
from services.embedding.model_catalog import ModelCatalog
from services.embedding.servicer import EmbeddingServicer
from services.embedding.worker_pool import WorkerPool
from services.security.server_security import ServerSecurity

DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_IMAGE_BYTES = 16 * 1024 * 1024


def create_server(
    address: str,
    pool: WorkerPool,
    catalog: ModelCatalog,
    archive: ArchiveImages | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    *,
    security: ServerSecurity,
) -> tuple[AnnealServer, int]:
    """The (not yet started) embedding server bound to ``address``, and its port.

    Images are embedded in batches of ``batch_size``; an image over ``max_image_bytes`` is
    refused with RESOURCE_EXHAUSTED; archive image ids are read from ``archive``.
    """
    if batch_size < 1 or max_image_bytes < 1:
        raise ValueError("batch_size and max_image_bytes must be at least 1")
    assembler = ImageAssembler(max_image_bytes, archive or ArchiveImages(None))
    servicer = EmbeddingServicer(pool, catalog, assembler, batch_size)
    binding = ServiceBinding.of(
        embedding_pb2,
        "EmbeddingService",
        servicer,
        embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server,
    )
    return create_common_server(address, [binding], security)
