"""The file of ``anneal labels export`` / ``import``: one table, CSV or Parquet, one row per answer.

Columns (docs/deploy.md): ``round``, ``round_state`` (open / closed),
``round_opened_at_unix_ms``, ``round_closed_at_unix_ms``, ``pair_id``, ``image_a``, ``image_b``,
``answer`` (similar / dissimilar), ``annotator``, ``key`` (the idempotency key),
``created_at_unix_ms``, ``withdrawn_at_unix_ms`` (empty while the answer counts). A pair of a
round that has no answer at all has one row with ``answer``, ``annotator``, ``key`` and the
answer's times empty: so the file holds every round's full pair list, and an import can open
the round in an empty store. Rows come round by round, answers in store order. The format of a
file being read is told by its first bytes (Parquet files start with ``PAR1``).
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class FileFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


ANSWERS = {"similar": True, "dissimilar": False}
STATES = ("open", "closed")


@dataclass(frozen=True)
class LabelRow:
    """One row: a round's pair, and one answer for it (or none: ``answer`` empty)."""

    round: int
    round_state: str
    round_opened_at_unix_ms: int
    round_closed_at_unix_ms: int | None
    pair_id: int
    image_a: str
    image_b: str
    answer: str
    annotator: str
    key: str
    created_at_unix_ms: int | None
    withdrawn_at_unix_ms: int | None

    @property
    def has_answer(self) -> bool:
        return bool(self.answer)


COLUMNS = tuple(field.name for field in fields(LabelRow))
_OPTIONAL_INTS = {"round_closed_at_unix_ms", "created_at_unix_ms", "withdrawn_at_unix_ms"}
_INTS = {"round", "round_opened_at_unix_ms", "pair_id"}
_SCHEMA = pa.schema(
    [(name, pa.int64() if name in _INTS | _OPTIONAL_INTS else pa.string()) for name in COLUMNS]
)


def write_rows(path: Path, file_format: FileFormat, rows: Iterable[LabelRow]) -> int:
    """Writes the rows to ``path`` (replacing it only once complete); how many."""
    partial = path.with_name(path.name + ".partial")
    count = 0
    if file_format is FileFormat.CSV:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow(["" if value is None else value for value in astuple(row)])
                count += 1
    else:
        columns: dict[str, list[object]] = {name: [] for name in COLUMNS}
        for row in rows:
            for name, value in zip(COLUMNS, astuple(row), strict=True):
                columns[name].append(value)
            count += 1
        pq.write_table(pa.table(columns, schema=_SCHEMA), partial)
    partial.replace(path)
    return count


def _checked(where: str, values: dict[str, object]) -> LabelRow:
    """The row of ``values`` (strings from CSV, typed from Parquet); ValueError naming ``where``."""
    try:
        typed: dict[str, object] = {}
        for name in COLUMNS:
            value = values[name]
            if name in _INTS | _OPTIONAL_INTS:
                empty = value is None or value == ""
                if empty and name in _INTS:
                    raise ValueError(f"{name} is empty")
                typed[name] = None if empty else int(str(value))
            else:
                typed[name] = "" if value is None else str(value)
        row = LabelRow(**typed)  # type: ignore[arg-type]
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if row.round_state not in STATES:
        raise ValueError(f"{where}: round_state must be open or closed, got {row.round_state!r}")
    if row.answer and row.answer not in ANSWERS:
        raise ValueError(f"{where}: answer must be similar, dissimilar or empty")
    if row.answer and (not row.key or not row.annotator or row.created_at_unix_ms is None):
        raise ValueError(f"{where}: an answer needs its annotator, key and created_at_unix_ms")
    return row


def _csv_rows(path: Path) -> Iterator[LabelRow]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a label export (no column {missing[0]!r})")
        for line, values in enumerate(reader, start=2):
            yield _checked(f"{path}:{line}", values)


def _parquet_rows(path: Path) -> Iterator[LabelRow]:
    table = pq.read_table(path)
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"{path}: not a label export (no column {missing[0]!r})")
    for index, values in enumerate(table.select(list(COLUMNS)).to_pylist()):
        yield _checked(f"{path} row {index + 1}", values)


def read_rows(path: Path) -> list[LabelRow]:
    """Every row of the export at ``path``; ValueError naming the file and row of a bad one."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
        rows = _parquet_rows(path) if magic == b"PAR1" else _csv_rows(path)
        return list(rows)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a readable label export ({exc})") from None
