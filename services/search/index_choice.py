"""Which Milvus index a version is built with: FLAT (exact) for small archives, an ANN index
at or above a row count, each with its build and search parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.search.milvus_settings import Params

EXACT = "FLAT"
ANN_DEFAULTS: Mapping[str, tuple[Params, Params]] = {
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 32}),
    "IVF_SQ8": ({"nlist": 1024}, {"nprobe": 32}),
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 64}),
}
"""(build, search) parameters of the ANN types offered by size, used where none are set.
IVF_FLAT and HNSW are measured on Milvus Lite 3.2.2 and a Milvus 2.3.5 server
(bench/ann_recall.py); IVF_SQ8 is offered by both but not measured here."""
DEFAULT_ANN_MIN_ROWS = 100_000
DEFAULT_ANN_TYPE = "IVF_FLAT"


@dataclass(frozen=True)
class IndexPlan:
    """What one version is built and searched with."""

    index_type: str
    build_params: Params = field(default_factory=dict)
    search_params: Params = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Whether searches return the true nearest rows (FLAT), so recall needs no check."""
        return self.index_type == EXACT


def ann_type(value: str) -> str:
    """An ANN index type offered by size (case-insensitive); ValueError naming the choices."""
    name = value.strip().upper()
    if name not in ANN_DEFAULTS:
        raise ValueError(f"expected one of {', '.join(ANN_DEFAULTS)}, got {name or 'nothing'}")
    return name


@dataclass(frozen=True)
class AnnChoice:
    """An archive of at least ``min_rows`` rows gets ``index_type``; empty params mean the
    type's defaults (ANN_DEFAULTS)."""

    min_rows: int = DEFAULT_ANN_MIN_ROWS
    index_type: str = DEFAULT_ANN_TYPE
    build_params: Params = field(default_factory=dict)
    search_params: Params = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.min_rows < 1:
            raise ValueError(f"the ANN row threshold must be at least 1, got {self.min_rows}")
        ann_type(self.index_type)

    def plan(self) -> IndexPlan:
        build, search = ANN_DEFAULTS[self.index_type]
        return IndexPlan(
            self.index_type, dict(self.build_params or build), dict(self.search_params or search)
        )
