"""Adding rows to a built index version in place: insert, flush, count, or take them out again.

Images added to the archive go into the serving version's collection instead of a new version:
the version number stays and only the new rows move. Milvus indexes the new segments itself, and
a loaded collection searches rows inserted after its load (its growing segments), so nothing is
rebuilt or reloaded. The caller (IndexManager.add) sends only ids the version does not hold yet:
Milvus does not enforce unique primary keys on insert.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from pymilvus import MilvusClient

from services.search.collection_layout import ID_FIELD
from services.search.errors import IndexAddError, IndexNotReadyError
from services.search.index_builder import insert_rows
from services.search.index_config import IndexConfig
from services.search.index_version import IndexVersion
from services.search.retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddedRows:
    """What an addition did: the version as it is now (its new count), rows inserted, rows
    skipped because the version held their id already."""

    version: IndexVersion
    added: int
    already_present: int


class RowAdditions:
    """Inserts rows into the collection of a version and checks that it counts them."""

    def __init__(self, client: MilvusClient, config: IndexConfig, retry: RetryPolicy) -> None:
        self._client = client
        self._config = config
        self._retry = retry
        self._timeout = config.milvus_timeout_s

    def add(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[Mapping[str, str]],
    ) -> IndexVersion:
        """Insert validated rows of ids ``version`` does not hold; ``version`` with its new count.

        IndexAddError (UNAVAILABLE) when Milvus failed or the count is off afterwards; the rows
        are deleted again first, so a retry starts from the version as it was.
        """
        name = version.collection
        expected = version.count + len(ids)
        try:
            insert_rows(self._client, name, ids, vectors, metadata, self._config)
            flush = partial(self._client.flush, name, timeout=self._timeout)
            self._retry.run(f"flush {name}", flush)
            self._retry.run(f"count {name}", lambda: self._check_count(name, expected))
        except Exception as exc:
            self._delete_quietly(name, ids)
            raise IndexAddError(
                f"adding {len(ids)} images to index version {version.version} failed and was"
                f" undone: {exc}; the version serves as before, retry"
            ) from exc
        log.info(
            "added %d images to index version %d (%d now)", len(ids), version.version, expected
        )
        return dataclasses.replace(version, count=expected)

    def _check_count(self, name: str, expected: int) -> None:
        rows = self._client.query(
            name,
            filter="",
            output_fields=["count(*)"],
            consistency_level="Session",
            timeout=self._timeout,
        )
        count = int(rows[0]["count(*)"])
        if count != expected:
            raise IndexNotReadyError(
                f"{name} holds {count} rows after the insert, expected {expected}"
            )

    def _delete_quietly(self, name: str, ids: Sequence[str]) -> None:
        wanted = ", ".join(f'"{image_id}"' for image_id in ids)  # ids checked: no quotes
        try:
            self._client.delete(name, filter=f"{ID_FIELD} in [{wanted}]", timeout=self._timeout)
        except Exception as exc:  # the undo must not hide the failure
            log.warning("could not delete the rows just added to %s: %s", name, exc)
