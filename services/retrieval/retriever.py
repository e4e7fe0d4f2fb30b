"""Answers queries: turns each into a vector with the serving index's model, then searches.

The model version of an index is stored with the index (search's BuildOptions.model_version) and
comes back with every GetIndexInfo and Search answer. An image query is embedded with the model
of the index last seen serving; when the Search answer says the index (and so its model) changed
in between, the query is embedded again with the new model and searched again, so no answer
mixes the vectors of two models. A query by archive id goes to Search as the id: the search
service reads the stored vector from the same index version it searches, in the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from annealpb.search.v1 import search_pb2
from services.common.errors import FailedPreconditionError, UnavailableError
from services.retrieval.embedding_client import EmbeddingClient, ModelNotLoadedError
from services.retrieval.query import Query
from services.retrieval.search_client import SearchClient

MAX_ATTEMPTS = 3

TimeLeft = Callable[[], float | None]


@dataclass(frozen=True)
class Answer:
    """The ranked hits of one query and the index that produced them."""

    hits: list[search_pb2.Hit]
    index_version: int
    model_version: str


@dataclass(frozen=True)
class _Vectors:
    """Vectors of the image and vector queries (in query order, None if there are none), the
    model versions of the embedded ones, and the ``(label, image id)`` of the id queries."""

    matrix: np.ndarray | None
    models: frozenset[str]
    image_ids: list[tuple[str, str]]


class Retriever:
    """Stateless apart from a hint: the model version of the index seen serving last."""

    def __init__(self, embedding: EmbeddingClient, search: SearchClient) -> None:
        self._embedding = embedding
        self._search = search
        self._model_hint: str | None = None

    def retrieve(self, queries: Sequence[Query], time_left: TimeLeft) -> list[Answer]:
        """One answer per query, all from one index version.

        ``time_left()`` gives the timeout of each downstream call (the caller's deadline).
        """
        for _ in range(MAX_ATTEMPTS):
            try:
                vectors = self._vectors(queries, time_left)
            except ModelNotLoadedError:
                # The model of an index seen earlier may have been unloaded after a swap.
                if self._model_hint is not None and self._model_changed(
                    frozenset({self._model_hint}), time_left
                ):
                    continue
                raise
            k = max(query.search_k for query in queries)
            try:
                reply = self._search.search(vectors.matrix, vectors.image_ids, k, time_left())
            except ValueError:
                # A dimension mismatch is the query's fault only if the model did not change.
                if vectors.models and self._model_changed(vectors.models, time_left):
                    continue
                raise
            self._model_hint = reply.model_version
            if not reply.model_version or vectors.models <= {reply.model_version}:
                # Search answers the vector rows first, then the image ids.
                order = sorted(range(len(queries)), key=lambda i: queries[i].image_id is not None)
                answers = dict(zip(order, reply.results, strict=True))
                return [self._answer(q, answers[i], reply) for i, q in enumerate(queries)]
        raise UnavailableError(
            f"the serving index kept changing its model during the query ({MAX_ATTEMPTS} tries);"
            " retry"
        )

    def _model_changed(self, used: frozenset[str], time_left: TimeLeft) -> bool:
        info = self._search.index_info(time_left())
        self._model_hint = info.model_version if info.has_index else None
        return bool(info.has_index) and used != {info.model_version}

    def _serving_model(self, time_left: TimeLeft) -> str:
        if self._model_hint is None:
            info = self._search.index_info(time_left())
            if not info.has_index:
                raise FailedPreconditionError(
                    "no index is serving yet; the coordinator builds one at start-up, retry then"
                )
            self._model_hint = info.model_version
        return self._model_hint

    def _vectors(self, queries: Sequence[Query], time_left: TimeLeft) -> _Vectors:
        rows: dict[int, np.ndarray] = {}
        models: set[str] = set()
        images = [(i, q) for i, q in enumerate(queries) if q.image is not None]
        if images:
            matrix, model = self._embedding.embed(
                [(q.label, q.image) for _, q in images if q.image],
                self._serving_model(time_left),
                time_left(),
            )
            rows.update((i, vector) for (i, _), vector in zip(images, matrix, strict=True))
            models.add(model)
        for i, query in enumerate(queries):
            if query.vector is not None:
                rows[i] = query.vector
        searched = [queries[i] for i in sorted(rows)]
        return _Vectors(
            self._stack([rows[i] for i in sorted(rows)], searched) if rows else None,
            frozenset(models),
            [(q.label, q.image_id) for q in queries if q.image_id is not None],
        )

    @staticmethod
    def _stack(rows: list[np.ndarray], queries: Sequence[Query]) -> np.ndarray:
        dim = len(rows[0])
        for query, row in zip(queries, rows, strict=True):
            if len(row) != dim:
                raise ValueError(
                    f"{query.label}: vector has {len(row)} values, {queries[0].label} has {dim};"
                    " all vectors must have the index's dimension"
                )
        return np.stack(rows)

    @staticmethod
    def _answer(
        query: Query, found: search_pb2.QueryHits, reply: search_pb2.SearchResponse
    ) -> Answer:
        hits = [
            hit
            for hit in found.hits
            if not (query.excludes_self and hit.image_id == query.image_id)
        ]
        return Answer(hits[: query.k], reply.index_version, reply.model_version)
