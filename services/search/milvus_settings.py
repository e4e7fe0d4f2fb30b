"""Where the index lives, as settings: shared by the search service (its writer) and the
retrieval service (which reads a Milvus server directly when given one)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import SettingsParser

DEFAULT_MILVUS_URI = "state/milvus.db"


def json_object(value: str) -> dict[str, int | float | str]:
    parsed = json.loads(value or "{}")
    if not isinstance(parsed, dict):
        raise ValueError(f'expected a JSON object such as {{"nprobe": 16}}, got {value!r}')
    return parsed


@dataclass(frozen=True)
class MilvusSettings:
    uri: str
    token: str
    search_params: dict[str, int | float | str]

    @property
    def is_lite(self) -> bool:
        """A Milvus Lite file: opened by the search service alone."""
        return self.uri.endswith(".db")

    @staticmethod
    def declare(parser: SettingsParser, default_uri: str = DEFAULT_MILVUS_URI) -> None:
        parser.add(
            "--milvus-uri",
            "ANNEAL_MILVUS_URI",
            default_uri,
            "Milvus Lite file (*.db) or server URI (http://host:19530)",
        )
        parser.add(
            "--milvus-token-file",
            "ANNEAL_MILVUS_TOKEN_FILE",
            "",
            "file holding user:password for a Milvus server with authentication (empty: none)",
        )
        parser.add(
            "--search-params", "ANNEAL_SEARCH_PARAMS", "{}", "JSON search params", json_object
        )

    @classmethod
    def of(cls, values: argparse.Namespace) -> MilvusSettings:
        """The parsed settings; SystemExit (one line) if the token file cannot be read."""
        return cls(values.milvus_uri, _token(values.milvus_token_file), values.search_params)


def _token(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SystemExit(
            f"error: cannot read the Milvus token file {path}: {exc.strerror}"
        ) from None
