"""Where selection gets the embeddings of the archive: the search service's index.

The search service owns the index, so it is the one place that knows which embeddings serve
now. Selection reads a whole index version with one ``ExportVectors`` stream of packed float32
chunks (services/common/vector_chunks.py; all rows from that one version, which the search
service holds until the stream ends), keeps the archive's images of it, and caches the last
version in memory: a round's pairs are chosen over one consistent set of embeddings. A version's
embeddings never change, but the serving version grows when images are added to the archive
(``IngestArchive``): the cache is keyed by the version and its image count, and the archive
folder is scanned again when it is read anew, so added images can be selected.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.errors import FailedPreconditionError, UnavailableError
from services.common.vector_chunks import unpack_chunk
from services.selection.archive_vectors import ArchiveVectors

EXPORT_BATCH = 10_000
"""Rows per Milvus page; the search service sends them in chunks of at most 2 MiB."""


class VectorSource(ABC):
    """Gives the archive's embeddings of one index version; subclasses fill :meth:`_load`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: ArchiveVectors | None = None
        self._cached_key: tuple[int, int | None] = (0, None)

    def vectors(self, index_version: int, timeout_s: float | None) -> ArchiveVectors:
        """Embeddings of ``index_version`` (0: the serving one).

        FailedPreconditionError when no index serves yet, or the version is neither serving
        nor built (its embeddings cannot be read).
        """
        with self._lock:
            serving, count = self._serving_index(timeout_s)
            wanted = index_version or serving
            if wanted == 0:
                raise FailedPreconditionError(
                    "no index serves yet, so there are no embeddings to select pairs over;"
                    " index the archive first"
                )
            key = (wanted, count if wanted == serving else None)  # only the serving one grows
            if self._cached is None or self._cached_key != key:
                self._cached = self._load(wanted, timeout_s)
                self._cached_key = key
            return self._cached

    @abstractmethod
    def _serving_index(self, timeout_s: float | None) -> tuple[int, int]:
        """The serving index version (0 when none serves) and its number of images."""

    @abstractmethod
    def _load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        """All archive embeddings of ``version``."""


class SearchServiceVectors(VectorSource):
    """Reads a version's embeddings from the search service with one ``ExportVectors`` stream.

    Only the archive's images (``archive_ids()``, called at every read of a version: a scan of
    the archive folder) are kept, in that order, so the rows, and with them the selected pairs,
    do not depend on the order Milvus returns them in.
    """

    def __init__(self, channel: grpc.Channel, archive_ids: Callable[[], Sequence[str]]) -> None:
        super().__init__()
        self._stub = search_pb2_grpc.SearchServiceStub(channel)
        self._archive_ids = archive_ids

    def _serving_index(self, timeout_s: float | None) -> tuple[int, int]:
        info = self._stub.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=timeout_s)
        return (int(info.version), int(info.count)) if info.has_index else (0, 0)

    def _export(
        self, version: int, timeout_s: float | None
    ) -> tuple[dict[str, int], np.ndarray, str]:
        """(image id -> row, matrix, model version) of the whole exported version."""
        request = search_pb2.ExportVectorsRequest(
            version=version, batch_size=EXPORT_BATCH, packed=True
        )
        ids: list[str] = []
        blocks: list[np.ndarray] = []
        model_version = ""
        try:
            for reply in self._stub.ExportVectors(request, timeout=timeout_s):
                if reply.index_version != version:
                    raise UnavailableError(
                        f"asked for index version {version}, the search service sent"
                        f" {reply.index_version}; retry"
                    )
                rows = unpack_chunk(reply.chunk, f"the chunk of export message {len(blocks)}")
                ids.extend(rows.ids)
                blocks.append(rows.vectors)
                model_version = reply.model_version
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise FailedPreconditionError(
                    f"no embeddings for index version {version}: {exc.details()}"
                ) from exc
            raise
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)
        return {image_id: row for row, image_id in enumerate(ids)}, matrix, model_version

    def _load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        rows, matrix, model_version = self._export(version, timeout_s)
        found = [image_id for image_id in self._archive_ids() if image_id in rows]
        if len(found) < 2:
            raise FailedPreconditionError(
                f"index version {version} holds {len(found)} of the archive's images; at least"
                " 2 are needed to form pairs"
            )
        kept = matrix[[rows[image_id] for image_id in found]]
        kept /= np.linalg.norm(kept, axis=1, keepdims=True).clip(1e-12)
        return ArchiveVectors(tuple(found), kept, version, model_version)
