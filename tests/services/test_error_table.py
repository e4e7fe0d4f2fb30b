"""docs/architecture.md's error table and the code say the same: every mapped exception class is
in the table with the code ``status_code_for`` gives it, and every project exception is listed."""

from __future__ import annotations

import builtins
import importlib
import inspect
import re
from pathlib import Path

import grpc

from services.common.errors import STATUS_CODES, status_code_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
MODULES = (
    "services.common.errors",
    "services.search.errors",
    "services.embedding.errors",
    "services.security.refusals",
    "services.retrieval.embedding_client",
    "anneal.errors",
)


def table_rows() -> list[tuple[list[str], str]]:
    """(class names in 'raised as', gRPC code) per row of the error table."""
    section = DOC.read_text().split("## Errors", 1)[1]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("condition", "---"):
            continue
        rows.append((re.findall(r"`(\w+)`", cells[1]), cells[2].split()[0]))
    return rows


def project_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                found[attr] = value
    return found


def test_every_mapped_exception_is_in_the_table_with_its_code() -> None:
    listed = {name: code for names, code in table_rows() for name in names}
    for cls, code in STATUS_CODES.items():
        assert listed.get(cls.__name__) == code.name, cls.__name__


def test_every_project_exception_is_in_the_table_with_the_code_it_gets() -> None:
    known = project_exceptions()
    listed = {name: code for names, code in table_rows() for name in names}
    assert set(known) <= set(listed), set(known) - set(listed)
    for name, code in listed.items():
        cls = known.get(name) or getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            assert status_code_for(cls.__new__(cls)).name == code, name


def test_malformed_requests_have_their_row() -> None:
    codes = {code for names, code in table_rows() if "Malformed" in names}
    assert codes == {grpc.StatusCode.INVALID_ARGUMENT.name}
