"""Builds one index version: create, insert, flush, index, load, and verify that it answers."""

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
from pymilvus import MilvusClient

from services.common.shown import shown
from services.common.vector_checks import check_vectors
from services.search.build_recall import RECALL_K, measure_recall
from services.search.collection_layout import (
    ID_FIELD,
    MAX_DIM,
    METADATA_FIELD,
    MODEL_VERSION_PROPERTY,
    SEARCH_PARAMS_PROPERTY,
    VECTOR_FIELD,
    CollectionLayout,
    check_image_id,
)
from services.search.errors import IndexBuildError, IndexNotReadyError, RecallBelowFloorError
from services.search.index_choice import IndexPlan
from services.search.index_config import IndexConfig
from services.search.index_version import IndexVersion
from services.search.retry import RetryPolicy
from services.search.vector_searcher import VectorSearcher

log = logging.getLogger(__name__)
PROBES = 3


def check_build_input(
    ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, str]]
) -> np.ndarray:
    """Validate a build's rows and return the vectors as a C-contiguous float32 (N, D) array."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"vectors must be a non-empty (N, D) array, got shape {matrix.shape}")
    if matrix.shape[1] > MAX_DIM:
        raise ValueError(f"vectors have {matrix.shape[1]} values; the limit is {MAX_DIM}")
    if len(ids) != matrix.shape[0] or len(metadata) != matrix.shape[0]:
        raise ValueError(
            f"got {len(ids)} ids, {matrix.shape[0]} vectors and {len(metadata)} metadata entries;"
            " they must be equally many"
        )
    check_vectors(matrix, lambda row: f"vector of image {shown(ids[row])}")
    for image_id in ids:
        check_image_id(image_id)
    if len(set(ids)) != len(ids):
        dup, times = Counter(ids).most_common(1)[0]
        raise ValueError(f"image id {shown(dup)} occurs {times} times; ids must be unique")
    for image_id, meta in zip(ids, metadata, strict=True):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise ValueError(f"metadata of image {shown(image_id)} must map strings to strings")
    return matrix


def insert_rows(
    client: MilvusClient,
    name: str,
    ids: Sequence[str],
    vectors: np.ndarray,
    metadata: Sequence[Mapping[str, str]],
    config: IndexConfig,
) -> None:
    """Insert validated rows into collection ``name``, ``config.insert_batch`` at a time."""
    step = config.insert_batch
    for start in range(0, len(ids), step):
        rows = [
            {ID_FIELD: ids[i], VECTOR_FIELD: vectors[i], METADATA_FIELD: dict(metadata[i])}
            for i in range(start, min(start + step, len(ids)))
        ]
        client.insert(name, rows, timeout=config.milvus_timeout_s)


class IndexBuilder:
    """Fills a new collection and returns it only once it is loaded and answers correctly.

    Flush and load+verify are idempotent, so each is retried on transient Milvus faults. If a
    step still fails, the half-built collection is dropped and IndexBuildError is raised:
    nothing serving is touched. The index type follows the row count (IndexConfig.plan); an
    ANN index's recall@k against exact search is measured through ``searcher`` (the query
    path) and a recall below IndexConfig.recall_floor drops it too (RecallBelowFloorError).
    Where the drop fails too (Milvus went away mid-build), the next build of that version
    drops the leftover first. Each Milvus call waits at most ``config.milvus_timeout_s``, so
    a hung server fails the build instead of holding it.
    """

    def __init__(
        self,
        client: MilvusClient,
        searcher: VectorSearcher,
        layout: CollectionLayout,
        config: IndexConfig,
        retry: RetryPolicy,
    ) -> None:
        self._client = client
        self._searcher = searcher
        self._layout = layout
        self._config = config
        self._retry = retry
        self._timeout = config.milvus_timeout_s

    def build(
        self,
        version: int,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]],
        model_version: str,
    ) -> IndexVersion:
        """Create collection ``<prefix>_v<version>`` from validated rows; see the class doc."""
        name = self._layout.collection(version)
        plan = self._config.plan(len(ids))
        try:  # every Milvus step, the create too, fails as IndexBuildError (counted, UNAVAILABLE)
            self._drop_leftover(name)
            self._client.create_collection(
                name,
                schema=self._layout.schema(vectors.shape[1]),
                properties={
                    MODEL_VERSION_PROPERTY: model_version,
                    SEARCH_PARAMS_PROPERTY: json.dumps(dict(plan.search_params)),
                },
                timeout=self._timeout,
            )
            self._insert(name, ids, vectors, metadata)
            flush = partial(self._client.flush, name, timeout=self._timeout)
            self._retry.run(f"flush {name}", flush)
            self._create_index(name, plan)  # not retried: a half-failed one leaves an index
            self._retry.run(f"load {name}", lambda: self._load_and_verify(name, ids, vectors, plan))
            recall = self._recall(name, ids, vectors, plan)
        except RecallBelowFloorError:
            self._drop_quietly(name)
            raise
        except Exception as exc:
            self._drop_quietly(name)
            raise IndexBuildError(
                f"building index version {version} failed and was rolled back: {exc};"
                " the serving version is unchanged, retry the build"
            ) from exc
        return IndexVersion(
            version=version,
            collection=name,
            dim=int(vectors.shape[1]),
            count=len(ids),
            model_version=model_version,
            index_type=plan.index_type,
            metric=self._config.metric,
            search_params=dict(plan.search_params),
            recall=recall,
        )

    def _recall(self, name: str, ids: Sequence[str], vectors: np.ndarray, plan: IndexPlan) -> float:
        """recall@k of ``name`` (1.0 for an exact index); RecallBelowFloorError below the floor."""
        if plan.exact:
            return 1.0
        params = dict(plan.search_params)
        recall = measure_recall(
            self._searcher, name, ids, vectors, self._config.metric, params, self._timeout
        )
        log.info("%s: %s recall@%d %.4f", name, plan.index_type, RECALL_K, recall)
        floor = self._config.recall_floor
        setting = (
            "ANNEAL_SEARCH_PARAMS" if self._config.index_type else "ANNEAL_INDEX_ANN_SEARCH_PARAMS"
        )
        if recall < floor:
            raise RecallBelowFloorError(
                f"the {plan.index_type} index of {len(ids)} rows found {recall:.3f} of the exact"
                f" {min(RECALL_K, len(ids))} nearest neighbours, below the recall floor"
                f" {floor:g}; the build was refused and the serving version is unchanged:"
                f" search more of the index ({setting} {json.dumps(params)}: raise nprobe for"
                " IVF, ef for HNSW), build it finer, or lower ANNEAL_INDEX_RECALL_FLOOR",
                recall,
            )
        return recall

    def _insert(
        self,
        name: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]],
    ) -> None:
        insert_rows(self._client, name, ids, vectors, metadata, self._config)

    def _create_index(self, name: str, plan: IndexPlan) -> None:
        # pymilvus 3 sends build params as one key-value pair each; Milvus Lite 3.2.2 reads
        # only a "params" pair holding them as JSON and ignores the rest (an IVF_FLAT index
        # got its default 128 lists whatever was asked). Both forms go: a server reads either.
        build = dict(plan.build_params)
        params = self._client.prepare_index_params()
        params.add_index(
            VECTOR_FIELD,
            index_type=plan.index_type,
            metric_type=self._config.metric,
            params={**build, "params": build} if build else {},
        )
        self._client.create_index(name, params, timeout=self._timeout)

    def _load_and_verify(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, plan: IndexPlan
    ) -> None:
        self._client.load_collection(name, timeout=self._timeout)
        rows = self._client.query(
            name,
            filter="",
            output_fields=["count(*)"],
            consistency_level="Session",
            timeout=self._timeout,
        )
        count = int(rows[0]["count(*)"])
        if count != len(ids):
            raise IndexNotReadyError(f"{name} holds {count} rows after load, expected {len(ids)}")
        self._verify_probes(name, ids, vectors, plan)

    def _verify_probes(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, plan: IndexPlan
    ) -> None:
        """Search with a few stored vectors: each must find itself among its nearest (an
        exact index), or find neighbours at all (an ANN one, whose recall is measured next: a
        vector missing itself there is a recall figure, not a Milvus fault to retry)."""
        picks = sorted({0, len(ids) // 2, len(ids) - 1})[:PROBES]
        limit = min(len(ids), 10)
        found = self._client.search(
            name,
            data=[vectors[i] for i in picks],
            limit=limit,
            search_params={
                "metric_type": self._config.metric,
                "params": dict(plan.search_params),
            },
            consistency_level="Session",
            timeout=self._timeout,
        )
        for i, hits in zip(picks, found, strict=True):
            if not hits or (plan.exact and ids[i] not in {hit.id for hit in hits}):
                raise IndexNotReadyError(
                    f"{name}: probe search for {shown(ids[i])} did not find it"
                    + ("" if hits else " (no hits at all)")
                )

    def _drop_leftover(self, name: str) -> None:
        """Drop a collection of this name that an earlier failed build could not roll back
        (Milvus was down): never serving, never swappable, so only in the way."""
        if self._client.has_collection(name, timeout=self._timeout):
            log.warning("dropping %s: left by an earlier build that failed", name)
            self._client.drop_collection(name, timeout=self._timeout)

    def _drop_quietly(self, name: str) -> None:
        try:
            self._client.drop_collection(name, timeout=self._timeout)
        except Exception as exc:  # rollback must not hide the build error
            log.warning("could not drop half-built collection %s: %s", name, exc)
