"""Where the index lives, as settings: shared by the search service (its writer) and the
retrieval service (which reads a Milvus server directly when given one)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.setting import Setting, text
from services.common.settings import MILVUS_URI

Params = Mapping[str, int | float | str]


def json_object(value: str) -> Params:
    try:
        parsed = json.loads(value or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValueError('expected a JSON object such as {"nprobe": 16}')
    return parsed


MILVUS_TOKEN_FILE = Setting(
    "--milvus-token-file",
    "ANNEAL_MILVUS_TOKEN_FILE",
    "",
    "file holding user:password for a Milvus server with authentication (empty: none)",
    text,
)
SEARCH_PARAMS: Setting[Params] = Setting(
    "--search-params", "ANNEAL_SEARCH_PARAMS", {}, "JSON search params", json_object
)


@dataclass(frozen=True)
class MilvusSettings:
    """The Milvus URI, its credential file and the search parameters (a group of settings)."""

    uri: str = MILVUS_URI.field()
    token_file: str = MILVUS_TOKEN_FILE.field()
    search_params: Mapping[str, int | float | str] = SEARCH_PARAMS.field()

    @property
    def is_lite(self) -> bool:
        """A Milvus Lite file: opened by the search service alone."""
        return self.uri.endswith(".db")

    def token(self) -> str:
        """``user:password`` from the token file ('' without one); SystemExit (one line) if the
        file cannot be read."""
        if not self.token_file:
            return ""
        try:
            return Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise SystemExit(
                f"error: cannot read the Milvus token file {self.token_file}: {exc.strerror}"
            ) from None
