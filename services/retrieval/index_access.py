"""What the retriever needs of the serving index, whichever way it is reached.

Two kinds: :class:`~services.retrieval.search_client.SearchClient` asks the search service
(always right; with Milvus Lite the only way, as the search service alone opens its file), and
:class:`~services.retrieval.direct_index.DirectIndex` reads a Milvus server itself, one hop
fewer on the query path while the search service keeps building, verifying and swapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from services.search.search_result import SearchResult


class IndexAccess(Protocol):
    def serving_model(self, timeout_s: float | None) -> str | None:
        """The model version of the serving index; None while no index serves."""
        ...

    def search(
        self,
        vectors: np.ndarray | None,
        image_ids: Sequence[tuple[str, str]],
        k: int,
        timeout_s: float | None,
    ) -> SearchResult:
        """The k best hits of each row of ``vectors``, then of each archive image of
        ``image_ids`` (``(label, image id)``: its stored vector), all from one index version.

        A NOT_FOUND names the query (its label) whose image the index does not hold; a vector
        of the wrong dimension is a ValueError.
        """
        ...

    def close(self) -> None:
        """Release what this access holds (its own connections, threads)."""
        ...
