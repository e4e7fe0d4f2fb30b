"""A versioned nearest-neighbour index over Milvus, swapped atomically between versions.

Each version N is its own collection ``<prefix>_v<N>``; the alias ``<prefix>_current`` names
the serving one, so the serving version survives a restart. A new version is built, loaded and
verified before the alias moves to it; the old collection is dropped once the queries that
started on it have finished. Queries resolve the serving version once, at their start, and read
that collection by name, so every answer comes from exactly one version. Queries themselves go
through an IndexReader (services/search/index_reader.py), which the retrieval service also uses
when it reads a Milvus server directly; for those readers a retired version stays
IndexConfig.retire_grace_s after it drained, so they see the swap before the drop.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager

import numpy as np
from pymilvus.exceptions import MilvusException

from services.search.collection_layout import CollectionLayout
from services.search.errors import (
    BackendUnavailableError,
    NoServingIndexError,
    NotServingError,
    StaleVersionError,
    UnknownVersionError,
    VersionExistsError,
)
from services.search.index_builder import IndexBuilder, check_build_input
from services.search.index_config import IndexConfig
from services.search.index_reader import IndexReader
from services.search.index_version import IndexVersion, describe_version
from services.search.milvus_connection import MilvusConnection
from services.search.query_checks import as_queries, check_k
from services.search.retry import RetryPolicy
from services.search.row_additions import AddedRows, RowAdditions
from services.search.search_result import SearchResult, StoredVector
from services.search.serving_slot import ServingSlot
from services.search.stored_rows import StoredRows
from services.search.vector_export import (
    ExportBatch,
    check_batch_size,
    export_batches,
)

log = logging.getLogger(__name__)


class IndexManager:
    """Builds, swaps and searches index versions; safe to call from many threads.

    On construction it recovers the serving version from the alias and drops our other
    collections (leftovers of a retirement or of a build that never got swapped in before a
    restart: derived data the coordinator rebuilds).
    """

    def __init__(
        self, connection: MilvusConnection, config: IndexConfig, retry: RetryPolicy | None = None
    ) -> None:
        self._connection = connection
        self._client = client = connection.client
        self._reader = IndexReader(connection, config)
        self._config = config
        self._retry = retry or RetryPolicy()
        self._layout = CollectionLayout(config.prefix)
        self._builder = IndexBuilder(client, connection.searcher, self._layout, config, self._retry)
        self._additions = RowAdditions(client, config, self._retry)
        self._add_lock = threading.Lock()
        self._slot = ServingSlot()
        self._ready: dict[int, IndexVersion] = {}
        self._build_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._retirements: list[threading.Thread] = []
        self._recover()

    @classmethod
    def open(
        cls, uri: str, config: IndexConfig, retry: RetryPolicy | None = None, token: str = ""
    ) -> IndexManager:
        """A manager on a new connection to ``uri`` (see :meth:`MilvusConnection.open`)."""
        return cls(MilvusConnection.open(uri, token), config, retry)

    @property
    def config(self) -> IndexConfig:
        return self._config

    def current(self) -> IndexVersion | None:
        """The serving version, or None before the first swap."""
        return self._slot.current

    def pin(self) -> AbstractContextManager[IndexVersion]:
        """Hold the serving version like a running query does, until the block exits.

        A swap inside the block proceeds, but the pinned version is not dropped until the
        block exits (or the drain timeout passes).
        """
        return self._slot.lease()

    @contextmanager
    def hold(self, version: int) -> Iterator[IndexVersion]:
        """Hold ``version`` (0: the serving one) like a running query, until the block exits.

        A serving or built-but-not-swapped version can be held; UnknownVersionError for any
        other (never built, failed, or already retired), NoServingIndexError for 0 before the
        first swap. The lookup happens under the swap lock, so a version found here is not
        retired before the hold counts it.
        """
        if version < 0:
            raise ValueError(f"index versions start at 1 (0: the serving one), got {version}")
        if version == 0:
            with self._slot.lease() as leased:
                yield leased
            return
        with ExitStack() as stack:
            with self._swap_lock:
                serving = self._slot.current
                found = (
                    serving if serving and serving.version == version else self._ready.get(version)
                )
                if found is None:
                    raise UnknownVersionError(
                        f"index version {version} is neither serving nor built (serving:"
                        f" {serving.version if serving else 'none'}); ask for 0 (the serving one)"
                    )
                stack.enter_context(self._slot.hold(found))
            yield found

    def export(
        self, version: int, batch_size: int = 0, include_metadata: bool = False
    ) -> Iterator[ExportBatch]:
        """Every stored row of ``version`` (0: serving), in batches, held for the whole export.

        See :meth:`hold` for the versions that can be exported, and
        :func:`~services.search.vector_export.export_batches` for the batches.
        """
        size = check_batch_size(batch_size)
        with self.hold(version) as held:
            yield from export_batches(self._client, held, size, include_metadata)

    def in_memory(self, version: int) -> bool:
        """Whether ``version``'s rows are held in memory (see IndexConfig)."""
        return self._reader.in_memory(version)

    def in_flight(self, version: int) -> int:
        """Queries now running on ``version``."""
        return self._slot.in_flight(version)

    def collections(self) -> list[str]:
        """Our collections in Milvus (serving, built-but-not-swapped, or still draining)."""
        names = self._client.list_collections()
        return sorted(n for n in names if self._layout.version_of(n) is not None)

    # -- building and swapping ------------------------------------------------------------

    def build(
        self,
        version: int,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]] | None = None,
        model_version: str = "",
    ) -> IndexVersion:
        """Build version ``version`` from the rows and keep it ready for :meth:`swap`.

        Builds run one at a time. Raises ValueError for bad rows, StaleVersionError for a
        version not newer than the serving one, VersionExistsError if it was built already,
        IndexBuildError if Milvus failed and RecallBelowFloorError if an ANN index misses too
        many exact neighbours (either way the half-built collection is dropped).
        """
        rows_meta = metadata if metadata is not None else [{} for _ in ids]
        matrix = check_build_input(ids, vectors, rows_meta)
        with self._build_lock:
            self._check_new_version(version)
            built = self._builder.build(version, ids, matrix, rows_meta, model_version)
            if self._reader.fits(built):
                self._reader.keep(StoredRows(built, ids, matrix, rows_meta))
            with self._swap_lock:
                self._ready[version] = built
        log.info("built index version %d (%d vectors, dim %d)", version, built.count, built.dim)
        return built

    def add(
        self,
        version: int,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]] | None = None,
    ) -> AddedRows:
        """Add rows to the serving version ``version`` in place (images added to the archive).

        Ids the version holds already are skipped, so a retry adds nothing twice. Additions run
        one at a time; queries go on meanwhile and see the rows once they are in. Raises
        ValueError for bad rows or a dimension other than the version's, UnknownVersionError
        for a version neither serving nor built, NotServingError for a built one not swapped
        in, NoServingIndexError before the first swap and IndexAddError if Milvus failed (the
        rows are taken out again).
        """
        rows_meta = metadata if metadata is not None else [{} for _ in ids]
        matrix = check_build_input(ids, vectors, rows_meta)
        with self._add_lock, self._hold_serving(version) as serving:
            if matrix.shape[1] != serving.dim:
                raise ValueError(
                    f"the rows have dimension {matrix.shape[1]}, index version {version} holds"
                    f" vectors of dimension {serving.dim}"
                )
            present = self._reader.held(serving, ids)
            new = [row for row, image_id in enumerate(ids) if image_id not in present]
            if not new:
                return AddedRows(serving, 0, len(present))
            new_ids = [ids[row] for row in new]
            new_meta = [rows_meta[row] for row in new]
            grown = dataclasses.replace(serving, count=serving.count + len(new))
            # In memory first: a search that finds a new row meanwhile has its metadata there.
            before = self._reader.append(grown, new_ids, matrix[new], new_meta)
            try:
                self._additions.add(serving, new_ids, matrix[new], new_meta)
            except Exception:
                if before is not None:
                    self._reader.keep(before)
                raise
            with self._swap_lock:
                if self._slot.current is serving:
                    self._slot.replace(grown)
        return AddedRows(grown, len(new), len(present))

    @contextmanager
    def _hold_serving(self, version: int) -> Iterator[IndexVersion]:
        """Hold ``version`` if it is the serving one; the error that says why not otherwise."""
        if version < 1:
            raise ValueError(f"name the serving index version (1 or more), got {version}")
        with ExitStack() as stack:
            with self._swap_lock:
                serving = self._slot.current
                if serving is None or serving.version != version:
                    serving_name = serving.version if serving else "none"
                    if version in self._ready:
                        raise NotServingError(
                            f"index version {version} is built but does not serve (serving:"
                            f" {serving_name}); swap to it first, or add to the serving version"
                        )
                    if serving is None:
                        raise NoServingIndexError("no index has been built and swapped in yet")
                    raise UnknownVersionError(
                        f"index version {version} is neither serving nor built (serving:"
                        f" {serving_name}); add to the serving version"
                    )
                stack.enter_context(self._slot.hold(serving))
            yield serving

    def _check_new_version(self, version: int) -> None:
        if version < 1:
            raise ValueError(f"index versions start at 1, got {version}")
        serving = self._slot.current
        if serving is not None and version <= serving.version:
            raise StaleVersionError(
                f"version {version} is not newer than the serving version {serving.version};"
                f" build version {serving.version + 1} or later"
            )
        with self._swap_lock:
            built = version in self._ready  # a collection of the name but not ready: a leftover
        if built:
            raise VersionExistsError(
                f"index version {version} exists already; swap to it or build a newer version"
            )

    def swap(self, version: int) -> IndexVersion | None:
        """Serve ``version`` from now on; return the version it replaced (None if none).

        Only a version built and verified by this process can be swapped in. Swapping to the
        serving version is a no-op. The replaced collection is dropped in the background once
        its in-flight queries have drained; older unswapped builds are dropped too.
        """
        with self._swap_lock:
            serving = self._slot.current
            if serving is not None and version == serving.version:
                return serving
            if serving is not None and version < serving.version:
                raise StaleVersionError(
                    f"version {version} is older than the serving version {serving.version}"
                )
            target = self._ready.get(version)
            if target is None:
                raise UnknownVersionError(
                    f"index version {version} has not been built (or its build failed);"
                    " build it before swapping"
                )
            try:
                self._point_alias(target.collection)
            except MilvusException as exc:
                raise BackendUnavailableError(
                    f"could not point {self._layout.alias} at version {version}: {exc};"
                    " the previous version keeps serving, retry the swap"
                ) from exc
            old = self._slot.replace(target)
            del self._ready[version]
            stale = [v for v in self._ready if v < version]
            retiring = [self._ready.pop(v) for v in stale]
            for item in [*retiring, *([old] if old else [])]:
                self._reader.forget(item.version)
        if old is not None:
            retiring.append(old)
        for item in retiring:
            self._retire(item)
        log.info("swapped to index version %d", version)
        return old

    def _point_alias(self, collection: str) -> None:
        alias = self._layout.alias
        if alias in self._client.list_aliases().get("aliases", []):
            self._client.alter_alias(collection, alias)
        else:
            self._client.create_alias(collection, alias)

    def _retire(self, old: IndexVersion) -> None:
        thread = threading.Thread(
            target=self._drop_when_drained, args=(old,), name=f"retire-v{old.version}", daemon=True
        )
        self._retirements.append(thread)
        thread.start()

    def _drop_when_drained(self, old: IndexVersion) -> None:
        if not self._slot.wait_drained(old.version, self._config.drain_timeout_s):
            log.warning(
                "version %d still has %d queries after %.0fs; dropping it anyway",
                old.version,
                self._slot.in_flight(old.version),
                self._config.drain_timeout_s,
            )
        if self._config.retire_grace_s:
            time.sleep(self._config.retire_grace_s)
        try:
            self._client.drop_collection(old.collection)
            log.info("dropped retired index version %d", old.version)
        except MilvusException as exc:
            log.warning("could not drop retired collection %s: %s", old.collection, exc)

    def wait_retired(self, timeout_s: float | None = None) -> bool:
        """Wait for pending drops of retired versions; False if some are still pending."""
        for thread in list(self._retirements):
            thread.join(timeout_s)
        self._retirements = [t for t in self._retirements if t.is_alive()]
        return not self._retirements

    # -- queries ----------------------------------------------------------------------------

    def search(
        self,
        vectors: np.ndarray | Sequence[Sequence[float]],
        k: int,
        version: IndexVersion | None = None,
    ) -> SearchResult:
        """The k nearest stored images of each query vector, best first, from one version.

        That version is the serving one, or ``version``, which the caller holds (see
        :meth:`pin`), e.g. because the query vectors came from it (:meth:`vectors_of`).
        """
        check_k(k)
        queries = as_queries(vectors)
        if version is None:
            with self._slot.lease() as serving:
                return self._reader.search(serving, queries, k)
        return self._reader.search(version, queries, k)

    def vectors_of(self, version: IndexVersion, image_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``image_ids`` in ``version`` (held by the caller), in order.

        See :meth:`IndexReader.vectors_of`.
        """
        return self._reader.vectors_of(version, image_ids)

    def get_vector(self, image_id: str) -> StoredVector:
        """The stored vector and metadata of ``image_id`` in the serving version."""
        with self._slot.lease() as serving:
            return self._reader.stored(serving, image_id)

    # -- start-up and shutdown --------------------------------------------------------------

    def _recover(self) -> None:
        alias = self._layout.alias
        serving_name = self._layout.serving_collection(self._client)
        for name in self.collections():
            if name != serving_name:
                log.info("dropping %s: not the serving version at start-up", name)
                self._client.drop_collection(name)
        if serving_name is None:
            return
        version = self._layout.version_of(serving_name)
        if version is None:
            raise RuntimeError(
                f"alias {alias} points at {serving_name}, which is not an index version of ours;"
                f" point it at a {self._layout.collection(1)}-style collection or drop it"
            )
        self._retry.run(f"load {serving_name}", lambda: self._client.load_collection(serving_name))
        serving = describe_version(self._client, version, serving_name)
        try:
            self._reader.load(serving)
        except BackendUnavailableError as exc:
            log.warning("serving %s without its rows in memory: %s", serving_name, exc)
        self._slot.replace(serving)
        log.info("recovered serving index version %d", version)

    def close(self, timeout_s: float | None = None) -> None:
        """Finish pending drops (up to ``timeout_s``) and close the Milvus connection."""
        self.wait_retired(timeout_s)
        self._connection.close()
