"""Answers queries: turns each into a vector with the serving index's model, then searches.

The model version of an index is stored with the index (search's BuildOptions.model_version) and
comes back with every GetIndexInfo and Search answer. An image query is embedded with the model
of the index last seen serving; when the Search answer says the index (and so its model) changed
in between, the query is embedded again with the new model and searched again, so no answer
mixes the vectors of two models. A query by archive id goes to the index as the id: its stored
vector is read from the same index version that is searched, in the same call. The index is
reached through an IndexAccess (services/retrieval/index_access.py): the search service, or a
Milvus server read directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.common.errors import FailedPreconditionError, UnavailableError
from services.retrieval.embedding_client import EmbeddingClient, ModelNotLoadedError
from services.retrieval.index_access import IndexAccess
from services.retrieval.query import Query
from services.search.search_result import Hit, SearchResult

MAX_ATTEMPTS = 3

TimeLeft = Callable[[], float | None]


@dataclass(frozen=True)
class Answer:
    """The ranked hits of one query and the index that produced them."""

    hits: list[Hit]
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

    def __init__(self, embedding: EmbeddingClient, index: IndexAccess) -> None:
        self._embedding = embedding
        self._index = index
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
                result = self._index.search(vectors.matrix, vectors.image_ids, k, time_left())
            except ValueError:
                # A dimension mismatch is the query's fault only if the model did not change.
                if vectors.models and self._model_changed(vectors.models, time_left):
                    continue
                raise
            self._model_hint = result.model_version
            if not result.model_version or vectors.models <= {result.model_version}:
                # The index answers the vector rows first, then the image ids.
                order = sorted(range(len(queries)), key=lambda i: queries[i].image_id is not None)
                answers = dict(zip(order, result.hits, strict=True))
                return [self._answer(q, answers[i], result) for i, q in enumerate(queries)]
        raise UnavailableError(
            f"the serving index kept changing its model during the query ({MAX_ATTEMPTS} tries);"
            " retry"
        )

    def _model_changed(self, used: frozenset[str], time_left: TimeLeft) -> bool:
        model = self._index.serving_model(time_left())
        self._model_hint = model
        return model is not None and used != {model}

    def _serving_model(self, time_left: TimeLeft) -> str:
        if self._model_hint is None:
            model = self._index.serving_model(time_left())
            if model is None:
                raise FailedPreconditionError(
                    "no index is serving yet; the coordinator builds one at start-up, retry then"
                )
            self._model_hint = model
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
    def _answer(query: Query, found: list[Hit], result: SearchResult) -> Answer:
        hits = [
            hit for hit in found if not (query.excludes_self and hit.image_id == query.image_id)
        ]
        return Answer(hits[: query.k], result.version, result.model_version)
