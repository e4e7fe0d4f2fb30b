"""How index versions are built and searched: index type, metric and their Milvus parameters."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.search.index_choice import EXACT, AnnChoice, IndexPlan

METRICS = ("IP", "COSINE", "L2")
"""Metrics Milvus offers for float vectors; IP and COSINE rank higher-is-closer, L2 the reverse."""


@dataclass(frozen=True)
class IndexConfig:
    """Index settings shared by every version this service builds.

    ``index_type`` empty (the default) picks the index by size (:meth:`plan`): FLAT below
    ``ann.min_rows`` rows, ``ann.index_type`` with its parameters at or above. A type named
    here is used at every size, with ``build_params`` for Milvus's index creation (e.g.
    ``{"nlist": 64}`` for IVF_FLAT, ``{"M": 16, "efConstruction": 200}`` for HNSW).
    ``search_params`` (e.g. ``{"nprobe": 16}`` or ``{"ef": 64}``) go to searches of such
    versions and of FLAT ones; each version keeps the search parameters it was built and its
    recall measured with (IndexVersion.search_params). ``prefix`` names the collections
    (``<prefix>_v<N>``) and the serving alias (``<prefix>_current``), so two deployments can
    share one Milvus.
    """

    index_type: str = ""
    metric: str = "IP"
    build_params: Mapping[str, int | float | str] = field(default_factory=dict)
    search_params: Mapping[str, int | float | str] = field(default_factory=dict)
    prefix: str = "anneal"
    insert_batch: int = 1000
    drain_timeout_s: float = 30.0
    milvus_timeout_s: float = 120.0
    """Longest wait for one Milvus call of a build (a load waits for the collection to load):
    a server that hangs fails the build (counted, old index serving) instead of holding it."""
    search_timeout_s: float = 10.0
    """Longest wait for one Milvus search on the query path: a server that hangs fails the
    queries of that call (UNAVAILABLE) and frees the batcher for the next, instead of holding
    every later query behind it."""
    retire_grace_s: float = 0.0
    """How long a retired version stays after its last query here finished: readers of the
    same Milvus server outside this process (retrieval reading it directly) see a swap within
    their refresh period, so the system sets this above that period (services/search)."""
    ann: AnnChoice = field(default_factory=AnnChoice)
    recall_floor: float = 0.95
    """An ANN build whose recall@k against exact search is below this is refused
    (services/search/build_recall.py)."""
    rows_in_memory_max_bytes: int = 256 * 1024 * 1024
    """A version whose vectors take at most this much (float32) is also held in memory, which
    answers look-ups by image id and hit metadata without Milvus; 0 keeps none. During a
    rebuild the serving and the new version are both held."""

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} is not one of {', '.join(METRICS)}")
        if self.index_type and not self.index_type.replace("_", "").isalnum():
            raise ValueError(f"index type {self.index_type!r} is not a Milvus index type name")
        if not self.prefix.replace("_", "").isalnum() or not self.prefix[0].isalpha():
            raise ValueError(f"prefix {self.prefix!r} must be letters, digits and _")
        if self.insert_batch < 1:
            raise ValueError(f"insert_batch must be at least 1, got {self.insert_batch}")
        if not 0.0 <= self.recall_floor <= 1.0:
            raise ValueError(f"recall_floor must be within 0..1, got {self.recall_floor}")
        if self.retire_grace_s < 0:
            raise ValueError(f"retire_grace_s must be 0 or more, got {self.retire_grace_s}")
        if self.rows_in_memory_max_bytes < 0:
            raise ValueError(
                f"rows_in_memory_max_bytes must be 0 or more, got {self.rows_in_memory_max_bytes}"
            )
        for name in ("drain_timeout_s", "milvus_timeout_s", "search_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def higher_is_closer(self) -> bool:
        """Whether Milvus's distance grows with similarity for this metric."""
        return self.metric != "L2"

    def plan(self, rows: int) -> IndexPlan:
        """The index a version of ``rows`` rows is built with (see the class doc)."""
        if self.index_type:
            return IndexPlan(self.index_type, self.build_params, self.search_params)
        if rows >= self.ann.min_rows:
            return self.ann.plan()
        return IndexPlan(EXACT, {}, self.search_params)
