"""Stored rows of one index version (image id -> vector, metadata), held in this process.

The search service keeps the serving version's rows in memory when they fit a size limit, so a
query by archive id reads its vector without a Milvus query and search hits get their metadata
without Milvus returning it. The same type holds the few rows a Milvus look-up returns when a
version is too large to keep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from services.common.shown import shown
from services.search.errors import UnknownImageError
from services.search.index_version import IndexVersion
from services.search.search_result import StoredVector
from services.search.vector_export import ExportBatch


class StoredRows:
    """Rows of ``version``: ``vectors[i]`` and ``metadata[i]`` belong to ``ids[i]``."""

    def __init__(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]],
    ) -> None:
        if not len(ids) == len(vectors) == len(metadata):
            raise ValueError(
                f"{len(ids)} ids, {len(vectors)} vectors and {len(metadata)} metadata entries;"
                " they must be equally many"
            )
        self.version = version
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(
            len(ids), version.dim
        )
        self.metadata = list(metadata)
        self._rows = {image_id: row for row, image_id in enumerate(ids)}

    @classmethod
    def of_batches(cls, version: IndexVersion, batches: Iterable[ExportBatch]) -> StoredRows:
        """All rows of an export (with metadata) of ``version``."""
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        metadata: list[Mapping[str, str]] = []
        for batch in batches:
            ids.extend(batch.ids)
            vectors.append(batch.vectors)
            metadata.extend(batch.metadata or [{} for _ in batch.ids])
        matrix = np.concatenate(vectors) if vectors else np.empty((0, version.dim), np.float32)
        return cls(version, ids, matrix, metadata)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._rows

    @property
    def ids(self) -> list[str]:
        return list(self._rows)

    def appended(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]],
    ) -> StoredRows:
        """These rows followed by new ones (of ids not held yet), as ``version``: a new object,
        so readers holding this one keep a consistent view."""
        return StoredRows(
            version,
            [*self._rows, *ids],
            np.concatenate([self.vectors, np.asarray(vectors, dtype=np.float32)]),
            [*self.metadata, *metadata],
        )

    def _row(self, image_id: str) -> int:
        row = self._rows.get(image_id)
        if row is None:
            raise UnknownImageError(
                f"no image {shown(image_id)} in index version {self.version.version}"
            )
        return row

    def vectors_of(self, image_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``image_ids``, in order; UnknownImageError names a missing id."""
        return self.vectors[[self._row(image_id) for image_id in image_ids]]

    def metadata_of(self, image_id: str) -> Mapping[str, str]:
        return self.metadata[self._row(image_id)]

    def stored(self, image_id: str) -> StoredVector:
        row = self._row(image_id)
        return StoredVector(
            image_id,
            self.vectors[row],
            self.metadata[row],
            self.version.version,
            self.version.model_version,
        )


def rows_bytes(count: int, dim: int) -> int:
    """Memory a version's vectors take as float32 (metadata and the id map come on top)."""
    return count * dim * 4
