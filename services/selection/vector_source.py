"""Where selection gets the archive's embeddings of an index version.

:class:`FileVectors` reads the files the coordinator wrote for the version
(services/common/embedding_files.py) in place, memory-mapped: no bytes over the network and no
work but the mapping. :class:`SearchServiceVectors` reads them from the search service's index
with one ``ExportVectors`` stream of packed float32 chunks (services/common/vector_chunks.py):
for a version without files (the folder is not shared with the coordinator, or the version was
indexed before the files existed). :class:`FallbackVectors` asks the first, then the second. A
source caches the last version it gave: a round's pairs are chosen over one consistent set of
embeddings. A version's embeddings never change, but the serving version grows when images are
added to the archive (``IngestArchive``: rows added to the index and the files written again),
so the cache is keyed by the version and its stamp (the files' checksum, or the index's image
count), and the archive's ids are scanned again whenever a version is read anew, so added images
can be selected.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.embedding_files import EmbeddingFiles, EmbeddingsAbsentError
from services.common.errors import FailedPreconditionError, UnavailableError
from services.common.vector_chunks import unpack_chunk
from services.selection.archive_vectors import ArchiveVectors

log = logging.getLogger(__name__)

EXPORT_BATCH = 10_000
"""Rows per Milvus page; the search service sends them in chunks of at most 2 MiB."""


class VectorSource(ABC):
    """Gives the archive's embeddings of one index version, caching the last one given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: ArchiveVectors | None = None
        self._cached_key: tuple[int, Hashable] = (0, None)

    def vectors(self, index_version: int, timeout_s: float | None) -> ArchiveVectors:
        """Embeddings of ``index_version`` (0: the serving one).

        FailedPreconditionError when no index serves yet, or the version is neither serving
        nor built (its embeddings cannot be read).
        """
        with self._lock:
            wanted = index_version or self.serving_version(timeout_s)
            if wanted == 0:
                raise FailedPreconditionError(
                    "no index serves yet, so there are no embeddings to select pairs over;"
                    " index the archive first"
                )
            key = (wanted, self.stamp(wanted, timeout_s))
            if self._cached is None or self._cached_key != key:
                self._cached = self.load(wanted, timeout_s)
                self._cached_key = key
            return self._cached

    @abstractmethod
    def serving_version(self, timeout_s: float | None) -> int:
        """The serving index version, 0 when none serves."""

    @abstractmethod
    def stamp(self, version: int, timeout_s: float | None) -> Hashable:
        """Cheap to read, and different once ``version`` has grown (images added)."""

    @abstractmethod
    def load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        """All archive embeddings of ``version``, read now (not cached)."""


class FileVectors(VectorSource):
    """Reads a version's embeddings from the coordinator's files, memory-mapped (they were
    L2-normalised when written). EmbeddingsAbsentError when the version has none complete,
    and for the serving version, which the files do not record."""

    def __init__(self, files: EmbeddingFiles, archive_ids: Callable[[], Sequence[str]]) -> None:
        super().__init__()
        self._files = files
        self._archive_ids = archive_ids

    def serving_version(self, timeout_s: float | None) -> int:
        raise EmbeddingsAbsentError(
            f"the embeddings folder {self._files.folder} does not record which version serves"
        )

    def stamp(self, version: int, timeout_s: float | None) -> Hashable:
        return self._files.stamp(version)

    def load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        stored = self._files.read(version)
        log.info(
            "index version %d: %d x %d embeddings mapped from %s (%d bytes read from disk,"
            " 0 over gRPC)",
            version,
            *stored.vectors.shape,
            self._files.path(version),
            stored.bytes_read,
        )
        return ArchiveVectors.of_archive(
            self._archive_ids(), stored.ids, stored.vectors, version, stored.model_version
        )


class SearchServiceVectors(VectorSource):
    """Reads a version's embeddings from the search service with one ``ExportVectors`` stream
    (all rows from that one version, which the search service holds until the stream ends)."""

    def __init__(self, channel: grpc.Channel, archive_ids: Callable[[], Sequence[str]]) -> None:
        super().__init__()
        self._stub = search_pb2_grpc.SearchServiceStub(channel)
        self._archive_ids = archive_ids

    def _info(self, timeout_s: float | None) -> search_pb2.GetIndexInfoResponse:
        return self._stub.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=timeout_s)

    def serving_version(self, timeout_s: float | None) -> int:
        info = self._info(timeout_s)
        return int(info.version) if info.has_index else 0

    def stamp(self, version: int, timeout_s: float | None) -> Hashable:
        """The image count if ``version`` serves (only the serving version grows), else None."""
        info = self._info(timeout_s)
        return int(info.count) if info.has_index and int(info.version) == version else None

    def _export(
        self, version: int, timeout_s: float | None
    ) -> tuple[list[str], np.ndarray, str, int]:
        """(ids, matrix, model version, bytes received) of the whole exported version."""
        request = search_pb2.ExportVectorsRequest(
            version=version, batch_size=EXPORT_BATCH, packed=True
        )
        ids: list[str] = []
        blocks: list[np.ndarray] = []
        model_version = ""
        received = 0
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
                received += reply.ByteSize()
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise FailedPreconditionError(
                    f"no embeddings for index version {version}: {exc.details()}"
                ) from exc
            raise
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)
        return ids, matrix, model_version, received

    def load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        ids, matrix, model_version, received = self._export(version, timeout_s)
        log.info(
            "index version %d: %d embeddings exported by the search service (%d bytes over gRPC)",
            version,
            len(ids),
            received,
        )
        vectors = ArchiveVectors.of_archive(
            self._archive_ids(), ids, matrix, version, model_version
        )
        norms = np.linalg.norm(vectors.matrix, axis=1, keepdims=True).clip(1e-12)
        return ArchiveVectors(vectors.ids, vectors.matrix / norms, version, model_version)


class FallbackVectors(VectorSource):
    """Asks ``primary``; where it has no embeddings (EmbeddingsAbsentError), ``fallback``. The
    first fall back is logged as a warning with the reason, later ones at INFO."""

    def __init__(self, primary: VectorSource, fallback: VectorSource) -> None:
        super().__init__()
        self._primary = primary
        self._fallback = fallback
        self._warned = False

    def serving_version(self, timeout_s: float | None) -> int:
        try:
            return self._primary.serving_version(timeout_s)
        except EmbeddingsAbsentError:
            return self._fallback.serving_version(timeout_s)

    def stamp(self, version: int, timeout_s: float | None) -> Hashable:
        try:
            return ("primary", self._primary.stamp(version, timeout_s))
        except EmbeddingsAbsentError:
            return ("fallback", self._fallback.stamp(version, timeout_s))

    def load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        try:
            return self._primary.load(version, timeout_s)
        except EmbeddingsAbsentError as exc:
            level = logging.INFO if self._warned else logging.WARNING
            log.log(level, "index version %d: %s; reading it the other way", version, exc)
            self._warned = True
            return self._fallback.load(version, timeout_s)
