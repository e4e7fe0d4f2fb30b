"""Reading named rows of one index version from Milvus, for versions not held in memory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from services.search.collection_layout import ID_FIELD, METADATA_FIELD, VECTOR_FIELD
from services.search.errors import BackendUnavailableError
from services.search.index_version import IndexVersion
from services.search.stored_rows import StoredRows


def query_rows(client: MilvusClient, version: IndexVersion, image_ids: Sequence[str]) -> StoredRows:
    """The rows of ``image_ids`` found in ``version`` (one Milvus query; missing ids are absent).

    The caller holds the version and has checked the ids (check_image_id: they go into the
    filter expression).
    """
    wanted = ", ".join(f'"{image_id}"' for image_id in dict.fromkeys(image_ids))
    try:
        rows = client.query(
            version.collection,
            filter=f"{ID_FIELD} in [{wanted}]",
            output_fields=[VECTOR_FIELD, METADATA_FIELD],
        )
    except MilvusException as exc:
        raise BackendUnavailableError(f"Milvus query failed: {exc}; retry") from exc
    vectors = np.asarray([row[VECTOR_FIELD] for row in rows], dtype=np.float32)
    return StoredRows(
        version,
        [str(row[ID_FIELD]) for row in rows],
        vectors.reshape(len(rows), version.dim),
        [row[METADATA_FIELD] for row in rows],
    )
