"""The settings each service really reads, taken from the service itself, not from a list.

Every service reads its settings once in ``main`` (services/common/setting.py), whose ``--help``
names each flag's ANNEAL_* variable and default. ``main(["--help"])`` prints that and exits
before the service starts anything, so it is a cheap, exact record of what a pod can set.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

HELP_ENTRY = re.compile(r"\(env (ANNEAL_\w+); default ([^()]*)\)")


def declared_settings(name: str) -> dict[str, str]:
    """ANNEAL_* variable -> default (as ``--help`` prints it) of ``python -m services.<name>``."""
    module = importlib.import_module(f"services.{name}.__main__")
    return help_settings(module.main, f"services.{name}")


def help_settings(main: Callable[[list[str]], object], what: str) -> dict[str, str]:
    """ANNEAL_* variable -> default that ``main(["--help"])`` prints (``what`` names it in
    messages): a service's ``main``, or the settings reader it calls first."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("ANNEAL_"):
                patch.delenv(key)  # defaults, not this machine's settings
        patch.setenv("COLUMNS", "10000")
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stopped:
            main(["--help"])
    assert stopped.value.code == 0, f"{what} --help failed"
    entries = HELP_ENTRY.findall(" ".join(out.getvalue().split()))
    assert entries, f"{what} --help lists no ANNEAL_* variable"
    return {variable: default.strip() for variable, default in entries}


def refused_when_missing(main_file: Path) -> set[str]:
    """ANNEAL_* variables named by a ``raise SystemExit(...)`` in a service's ``__main__``:
    settings without which the service refuses to start."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(main_file.read_text())):
        if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
            continue
        if not isinstance(node.exc.func, ast.Name) or node.exc.func.id != "SystemExit":
            continue
        for part in ast.walk(node.exc):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                names.update(re.findall(r"ANNEAL_\w+", part.value))
    return names
