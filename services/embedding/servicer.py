"""EmbeddingService over gRPC: converts messages to pool and catalog calls and back.

Exceptions are mapped to status codes by the common error interceptor; the embedding errors
subclass the common ones (services/embedding/errors.py), so the codes follow the proto's comments.
Waits on workers end at the caller's deadline: each batch's wait is what is left of it when the
batch starts (``context.time_remaining()``), and the pool cancels the batch then.

Every image's header was checked against the image limits by the assembler before it gets here;
batches are cut at ``batch_size`` images or :data:`MAX_BATCH_DECODED_BYTES` decoded bytes,
whichever comes first, which bounds the work (and so the time) of one batch on a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np

from anneal.data.image_limits import MAX_DECODED_BYTES
from annealpb.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from services.common.deadlines import outgoing_timeout
from services.common.shown import shown
from services.embedding.image_stream import EncodedImage, ImageAssembler, read_options
from services.embedding.model_catalog import ModelCatalog, ModelRecord
from services.embedding.ordered_batches import OrderedBatches
from services.embedding.worker_pool import WorkerPool

MAX_BATCH_DECODED_BYTES = MAX_DECODED_BYTES
"""Decoded bytes of the images of one batch: one image at the limit, or 32 images of 2 MP."""


def _model_info(record: ModelRecord) -> embedding_pb2.ModelInfo:
    return embedding_pb2.ModelInfo(
        model_version=record.version,
        checkpoint_path=record.checkpoint_path,
        dimension=record.dimension,
    )


class EmbeddingServicer(embedding_pb2_grpc.EmbeddingServiceServicer):
    """Thin gRPC face of a :class:`ModelCatalog` and the :class:`WorkerPool` behind it."""

    def __init__(
        self,
        pool: WorkerPool,
        catalog: ModelCatalog,
        assembler: ImageAssembler,
        batch_size: int,
    ) -> None:
        self._pool = pool
        self._catalog = catalog
        self._assembler = assembler
        self._batch_size = batch_size
        # Threads that wait on workers; two batches per worker keep every worker busy.
        self._executor = ThreadPoolExecutor(
            max_workers=4 * pool.size, thread_name_prefix="embed-batch"
        )

    def EmbedImages(
        self,
        request_iterator: Iterator[embedding_pb2.EmbedImagesRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[embedding_pb2.EmbedImagesResponse]:
        requests = iter(request_iterator)
        options = read_options(requests)
        record = self._catalog.resolve(options.model_version)
        per_response = options.max_batch or self._batch_size
        stream = object()  # this call's batches share their turn for a worker

        def embed(batch: list[EncodedImage]) -> np.ndarray:
            return self._embed(record.version, batch, outgoing_timeout(context), stream)

        batches = OrderedBatches(
            embed,
            self._batch_size,
            2 * self._pool.size,
            self._executor,
            weight=lambda image: image.decoded_bytes,
            max_weight=MAX_BATCH_DECODED_BYTES,
        )
        for batch, vectors in batches.results(self._assembler.images(requests)):
            for start in range(0, len(batch), per_response):
                yield embedding_pb2.EmbedImagesResponse(
                    embeddings=[
                        embedding_pb2.Embedding(image_id=image.image_id, vector=vector.tolist())
                        for image, vector in zip(
                            batch[start : start + per_response],
                            vectors[start : start + per_response],
                            strict=True,
                        )
                    ],
                    model_version=record.version,
                    dimension=record.dimension,
                )

    def _embed(
        self, version: str, batch: list[EncodedImage], timeout_s: float | None, stream: object
    ) -> np.ndarray:
        result = self._pool.embed(version, [image.data for image in batch], timeout_s, stream)
        if result.failed:
            position, error = min(result.failed.items())
            raise type(error)(f"image {shown(batch[position].image_id)}: {error}")
        if result.vectors is None:
            raise RuntimeError(f"worker returned no vectors for a batch of model {shown(version)}")
        return result.vectors

    def GetModelInfo(
        self, request: embedding_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> embedding_pb2.GetModelInfoResponse:
        return embedding_pb2.GetModelInfoResponse(
            default_model_version=self._catalog.default_version,
            models=[_model_info(record) for record in self._catalog.records()],
            workers=self._pool.size,
            device=self._pool.device,
            images_per_second=self._pool.images_per_second(),
        )

    def LoadModel(
        self, request: embedding_pb2.LoadModelRequest, context: grpc.ServicerContext
    ) -> embedding_pb2.LoadModelResponse:
        record, loaded = self._catalog.load(
            request.model_version, request.checkpoint_path, request.make_default
        )
        return embedding_pb2.LoadModelResponse(model=_model_info(record), loaded=loaded)

    def UnloadModel(
        self, request: embedding_pb2.UnloadModelRequest, context: grpc.ServicerContext
    ) -> embedding_pb2.UnloadModelResponse:
        return embedding_pb2.UnloadModelResponse(
            unloaded=self._catalog.unload(request.model_version)
        )
