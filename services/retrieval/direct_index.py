"""The serving index read straight from a Milvus server: one hop fewer on the query path.

The search service stays the index's only writer (it builds, verifies and swaps versions, and
drops retired ones); this reader follows the serving alias, polling it every ``refresh_s`` (and
the serving collection's row count: images added in place are read again), and answers
by-vector and by-id queries with the same IndexReader the search service uses, so both give the
same hits. It only ever moves forward: a client never sees an older version after a
newer one. A retired version stays in Milvus IndexConfig.retire_grace_s after the swap (the
search service's setting, set above ``refresh_s``), and a search that finds its collection gone
refreshes and tries once more. Concurrent queries share Milvus calls through a SearchBatcher.

Only for a Milvus server: Milvus Lite's file is opened by the search service alone.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence

import numpy as np
from pymilvus.exceptions import MilvusException

from services.common.shown import shown
from services.search.batcher import DEFAULT_BATCH_WAIT_S, SearchBatcher
from services.search.collection_layout import CollectionLayout
from services.search.errors import BackendUnavailableError, NoServingIndexError, UnknownImageError
from services.search.index_config import IndexConfig
from services.search.index_reader import IndexReader
from services.search.index_version import IndexVersion, count_rows, describe_version
from services.search.milvus_connection import MilvusConnection
from services.search.search_result import SearchResult

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 1.0


class DirectIndex:
    """An IndexAccess over a Milvus server; see the module doc. Close it when done."""

    def __init__(
        self,
        connection: MilvusConnection,
        config: IndexConfig,
        refresh_s: float = DEFAULT_REFRESH_S,
    ) -> None:
        if refresh_s <= 0:
            raise ValueError(f"refresh_s must be positive, got {refresh_s}")
        self._connection = connection
        self._layout = CollectionLayout(config.prefix)
        self._reader = IndexReader(connection, config)
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._serving: IndexVersion | None = None
        self._batcher = SearchBatcher(self._search_on, max_wait_s=DEFAULT_BATCH_WAIT_S)
        self._stop = threading.Event()
        try:
            self.refresh()
        except BackendUnavailableError as exc:
            log.warning("no serving index yet: %s", exc)
        self._watcher = threading.Thread(target=self._watch, name="index-watch", daemon=True)
        self._watcher.start()

    def serving(self) -> IndexVersion | None:
        with self._lock:
            return self._serving

    def refresh(self) -> IndexVersion | None:
        """Follow the alias now; the serving version afterwards (None while there is none)."""
        with self._refreshing:
            current = self.serving()
            try:
                found = self._newer(current)
            except MilvusException as exc:
                raise BackendUnavailableError(f"reading the serving index failed: {exc}") from exc
            if found is None or found == current:
                return current
            try:
                if not self._reader.load(found):
                    self._reader.forget(found.version)  # grown past the memory limit
            except BackendUnavailableError as exc:
                log.warning("serving %s without its rows in memory: %s", found.collection, exc)
            with self._lock:
                self._serving = found
            if current is not None and current.version != found.version:
                self._reader.forget(current.version)
            log.info(
                "now reading index version %d (%s, %d images)",
                found.version,
                found.model_version,
                found.count,
            )
            return found

    def _newer(self, current: IndexVersion | None) -> IndexVersion | None:
        """The version the alias names, when it is newer than ``current`` or holds more rows
        (images added to it in place); ``current`` otherwise (None while none serves)."""
        client = self._connection.client
        name = self._layout.serving_collection(client)
        if name is None:
            return current
        if current is not None and current.collection == name:
            count = count_rows(client, name)
            return current if count == current.count else dataclasses.replace(current, count=count)
        number = self._layout.version_of(name)
        if number is None or (current is not None and number < current.version):
            log.warning("alias points at %s, not a newer version of ours; ignored", name)
            return current
        return describe_version(client, number, name)

    def _watch(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self.refresh()
            except BackendUnavailableError as exc:
                log.warning("%s; still reading the version seen last", exc)

    def serving_model(self, timeout_s: float | None) -> str | None:
        serving = self.serving()
        return serving.model_version if serving is not None else None

    def search(
        self,
        vectors: np.ndarray | None,
        image_ids: Sequence[tuple[str, str]],
        k: int,
        timeout_s: float | None,
    ) -> SearchResult:
        """See IndexAccess.search; once more on a newer version if the collection vanished."""
        version = self.serving()
        if version is None:
            raise NoServingIndexError(
                "no index is serving yet; the coordinator builds one at start-up, retry then"
            )
        try:
            return self._search(version, vectors, image_ids, k, timeout_s)
        except BackendUnavailableError:
            newer = self.refresh()  # the version may have been swapped out and dropped
            if newer is None or newer == version:
                raise
            return self._search(newer, vectors, image_ids, k, timeout_s)

    def _search(
        self,
        version: IndexVersion,
        vectors: np.ndarray | None,
        image_ids: Sequence[tuple[str, str]],
        k: int,
        timeout_s: float | None,
    ) -> SearchResult:
        queries = self._queries(version, vectors, image_ids)
        return self._batcher.search(queries, k, timeout_s, version)

    def _queries(
        self,
        version: IndexVersion,
        vectors: np.ndarray | None,
        image_ids: Sequence[tuple[str, str]],
    ) -> np.ndarray:
        rows = [] if vectors is None else [np.asarray(vectors, dtype=np.float32)]
        if rows:
            IndexReader.check_dim(rows[0].shape[1], version)
        for label, image_id in image_ids:
            try:
                rows.append(self._reader.vectors_of(version, [image_id]))
            except UnknownImageError as exc:
                raise UnknownImageError(f"{label}: archive image {shown(image_id)}: {exc}") from exc
        return np.concatenate(rows)

    def _search_on(
        self, vectors: np.ndarray, k: int, version: IndexVersion | None = None
    ) -> SearchResult:
        if version is None:
            raise ValueError("DirectIndex searches name their version")
        return self._reader.search(version, vectors, k)

    def close(self) -> None:
        """Stop following the alias and close the Milvus connection."""
        self._stop.set()
        self._watcher.join()
        self._batcher.close()
        self._connection.close()
