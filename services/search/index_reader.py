"""The query path over index versions: search one version, read its rows by image id.

Shared by the search service (IndexManager) and the retrieval service when it reads a Milvus
server directly (services/retrieval/direct_index.py), so both answer the same way. Rows of
versions small enough (IndexConfig.rows_in_memory_max_bytes) are kept in memory: look-ups by
image id and hit metadata come from there, searches always go to Milvus. Rows added to a version
after its rows were read (AddToIndex, by the search service; a DirectIndex reader reloads them
when it sees the count change) are read from Milvus until then.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np

from services.common.shown import shown
from services.search.collection_layout import check_image_id
from services.search.errors import UnknownImageError
from services.search.index_config import IndexConfig
from services.search.index_version import IndexVersion
from services.search.milvus_connection import MilvusConnection
from services.search.milvus_settings import Params
from services.search.search_result import Hit, SearchResult, StoredVector
from services.search.stored_rows import StoredRows, rows_bytes
from services.search.vector_export import DEFAULT_EXPORT_BATCH, export_batches
from services.search.vector_lookup import query_rows

HELD_QUERY_IDS = 1000
"""Ids per Milvus query when asking which ids a version holds (they go into one filter)."""


class IndexReader:
    """Searches and reads rows of the versions it is given; safe to call from many threads.

    The caller says which version (and keeps it from being dropped meanwhile): the reader holds
    no notion of a serving version.
    """

    def __init__(self, connection: MilvusConnection, config: IndexConfig) -> None:
        self._connection = connection
        self._config = config
        self._lock = threading.Lock()
        self._memory: dict[int, StoredRows] = {}

    def fits(self, version: IndexVersion) -> bool:
        """Whether ``version``'s rows are small enough to keep in memory."""
        return rows_bytes(version.count, version.dim) <= self._config.rows_in_memory_max_bytes

    def keep(self, rows: StoredRows) -> None:
        """Answer look-ups and metadata of ``rows.version`` from ``rows`` from now on."""
        with self._lock:
            self._memory[rows.version.version] = rows

    def load(self, version: IndexVersion) -> bool:
        """Keep ``version``'s rows in memory if they fit, read from Milvus; True if kept.

        A Milvus failure leaves the version served without its rows in memory (look-ups then
        query Milvus); BackendUnavailableError is raised only to say so to the caller's log.
        """
        if not self.fits(version):
            return False
        batches = export_batches(self._connection.client, version, DEFAULT_EXPORT_BATCH, True)
        self.keep(StoredRows.of_batches(version, batches))
        return True

    def append(
        self,
        grown: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]],
    ) -> StoredRows | None:
        """Rows added to a version held in memory join it there, as ``grown`` (its new count);
        a version that no longer fits is forgotten (look-ups then query Milvus). Returns the
        rows held before, for :meth:`keep` to put back if the addition fails (None: none held).
        """
        with self._lock:
            rows = self._memory.get(grown.version)
            if rows is None:
                return None
            if self.fits(grown):
                self._memory[grown.version] = rows.appended(grown, ids, vectors, metadata)
            else:
                del self._memory[grown.version]
            return rows

    def held(self, version: IndexVersion, image_ids: Sequence[str]) -> set[str]:
        """Which of ``image_ids`` ``version`` holds (from memory, else Milvus queries of
        ``HELD_QUERY_IDS`` ids each)."""
        found: set[str] = set()
        for start in range(0, len(image_ids), HELD_QUERY_IDS):
            batch = image_ids[start : start + HELD_QUERY_IDS]
            rows = self._rows(version, batch)
            found.update(image_id for image_id in batch if image_id in rows)
        return found

    def forget(self, version: int) -> None:
        with self._lock:
            self._memory.pop(version, None)

    def in_memory(self, version: int) -> bool:
        with self._lock:
            return version in self._memory

    def search(self, version: IndexVersion, queries: np.ndarray, k: int) -> SearchResult:
        """The k nearest stored images of each row of ``queries`` in ``version``, best first."""
        self.check_dim(queries.shape[1], version)
        with self._lock:
            rows = self._memory.get(version.version)
        found = self._connection.searcher.search(
            version.collection,
            queries,
            k,
            version.metric,
            self.search_params(version),
            with_metadata=rows is None,
            timeout_s=self._config.search_timeout_s,
        )
        sign = 1.0 if version.metric != "L2" else -1.0
        if rows is not None:
            rows = self._with_added(version, rows, [h.image_id for row in found for h in row])
        hits = [
            [
                Hit(
                    h.image_id,
                    sign * h.distance,
                    rows.metadata_of(h.image_id) if rows else (h.metadata or {}),
                )
                for h in row
            ]
            for row in found
        ]
        return SearchResult(version.version, version.model_version, hits)

    def _with_added(
        self, version: IndexVersion, rows: StoredRows, image_ids: Sequence[str]
    ) -> StoredRows:
        """``rows``, or, where some of ``image_ids`` are not among them (rows added to the
        version since they were read: AddToIndex), those rows too, read from Milvus."""
        missing = [image_id for image_id in dict.fromkeys(image_ids) if image_id not in rows]
        if not missing:
            return rows
        added = query_rows(self._connection.client, version, missing)
        return rows.appended(version, added.ids, added.vectors, added.metadata)

    def search_params(self, version: IndexVersion) -> Params:
        """The Milvus search parameters of ``version`` (its own, else the configured ones)."""
        if version.search_params is not None:
            return version.search_params
        return self._config.search_params

    def vectors_of(self, version: IndexVersion, image_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``image_ids`` in ``version``, in order.

        From memory where the version is held there, else one Milvus query. UnknownImageError
        (NOT_FOUND) names the first id the version does not hold.
        """
        return self._rows(version, image_ids).vectors_of(image_ids)

    def stored(self, version: IndexVersion, image_id: str) -> StoredVector:
        """The stored vector and metadata of ``image_id`` in ``version``."""
        return self._rows(version, [image_id]).stored(image_id)

    def _rows(self, version: IndexVersion, image_ids: Sequence[str]) -> StoredRows:
        for image_id in image_ids:
            if not image_id:
                raise ValueError("image_id is empty; name an image of the index")
            try:
                check_image_id(image_id)
            except ValueError as exc:
                raise UnknownImageError(f"no image {shown(image_id)} in the index: {exc}") from exc
        with self._lock:
            rows = self._memory.get(version.version)
        if rows is not None and all(image_id in rows for image_id in image_ids):
            return rows  # else ids added since the rows were read, or not in the version at all
        return query_rows(self._connection.client, version, image_ids)

    @staticmethod
    def check_dim(dim: int, version: IndexVersion) -> None:
        """ValueError (INVALID_ARGUMENT) unless queries of dimension ``dim`` fit ``version``."""
        if dim != version.dim:
            raise ValueError(
                f"query vectors have dimension {dim}, but index version {version.version}"
                f" holds vectors of dimension {version.dim}"
            )
