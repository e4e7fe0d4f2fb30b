"""State files written atomically: a reader sees the old file or the new one, never half.

Shared by experiment runs (per-round AL state) and the services that keep state under
``ANNEAL_STATE_DIR`` (selection, coordinator). JSON for records; :func:`write_atomic` for any
other content (the index versions' embedding files: services/common/embedding_files.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write`` on a temporary file, fsync it, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (indented, keys sorted: readable and diffable) atomically."""
    text = json.dumps(data, indent=1, sort_keys=True)
    write_atomic(path, lambda out: out.write(text.encode("utf-8")))


def read_json(path: Path) -> Any:
    """The JSON content of ``path``; RuntimeError naming the file when it is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"state file {path} is not valid JSON ({exc}); restore it from a backup or delete it"
        ) from exc
