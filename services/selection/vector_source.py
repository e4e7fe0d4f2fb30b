"""Where selection gets the current embeddings of the archive: the search service.

The search service owns the index, so it is the one place that knows which embeddings serve
now. Selection reads them with ``GetVector`` for every archive image id, concurrently, checks
they all come from one index version, and keeps the last version in memory (a round's pairs
must be chosen over one consistent set of embeddings). A bulk export RPC on the search
service would make this one call; until it exists, 2,100 images take a few seconds.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np

from annealpb.search.v1 import search_pb2, search_pb2_grpc
from services.common.errors import FailedPreconditionError, UnavailableError
from services.selection.archive_vectors import ArchiveVectors


class VectorSource(ABC):
    """Gives the archive's embeddings of one index version; subclasses fill :meth:`_load`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: ArchiveVectors | None = None

    def vectors(self, index_version: int, timeout_s: float | None) -> ArchiveVectors:
        """Embeddings of ``index_version`` (0: the serving one).

        FailedPreconditionError when there is no index yet or the version is not the serving
        one (only the serving version's embeddings can be read).
        """
        with self._lock:
            serving = self._serving_version(timeout_s)
            if serving == 0:
                raise FailedPreconditionError(
                    "no index serves yet, so there are no embeddings to select pairs over;"
                    " index the archive first"
                )
            if index_version not in (0, serving):
                raise FailedPreconditionError(
                    f"no embeddings for index version {index_version}: only the serving version"
                    f" ({serving}) can be read; pass 0 or {serving}"
                )
            if self._cached is None or self._cached.version != serving:
                self._cached = self._load(serving, timeout_s)
            return self._cached

    @abstractmethod
    def _serving_version(self, timeout_s: float | None) -> int:
        """The serving index version, 0 when none serves."""

    @abstractmethod
    def _load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        """All archive embeddings of the serving ``version``."""


class SearchServiceVectors(VectorSource):
    """Reads embeddings from the search service with one ``GetVector`` per archive image."""

    def __init__(
        self,
        channel: grpc.Channel,
        image_ids: Sequence[str],
        workers: int = 8,
    ) -> None:
        super().__init__()
        self._stub = search_pb2_grpc.SearchServiceStub(channel)
        self._ids = list(image_ids)
        self._workers = workers

    def _serving_version(self, timeout_s: float | None) -> int:
        info = self._stub.GetIndexInfo(search_pb2.GetIndexInfoRequest(), timeout=timeout_s)
        return int(info.version) if info.has_index else 0

    def _get(self, image_id: str, timeout_s: float | None) -> search_pb2.GetVectorResponse | None:
        try:
            return self._stub.GetVector(
                search_pb2.GetVectorRequest(image_id=image_id), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # e.g. an unreadable image, not indexed
                return None
            raise

    def _load(self, version: int, timeout_s: float | None) -> ArchiveVectors:
        with ThreadPoolExecutor(self._workers, thread_name_prefix="get-vector") as pool:
            replies = list(pool.map(lambda i: self._get(i, timeout_s), self._ids))
        found = [(i, r) for i, r in zip(self._ids, replies, strict=True) if r is not None]
        versions = {r.index_version for _, r in found}
        if versions != {version}:
            raise UnavailableError(
                f"the serving index changed while its embeddings were read (versions"
                f" {sorted(versions)}); retry"
            )
        if len(found) < 2:
            raise FailedPreconditionError(
                f"index version {version} holds {len(found)} of the archive's images; at least"
                " 2 are needed to form pairs"
            )
        matrix = np.array([r.vector.values for _, r in found], dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)
        return ArchiveVectors(
            tuple(i for i, _ in found), matrix, version, found[0][1].model_version
        )
