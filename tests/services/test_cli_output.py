"""CLI tables printed to a pipe are whole: no header or cell cut to ``label…``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.security.principal import Role
from services.security.tokens import create_token

LONG_NAME = "annotator-with-a-rather-long-name-for-the-table-to-need-room"


def test_token_table_is_not_cut_when_stdout_is_piped(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    create_token(tokens, LONG_NAME, Role.ANNOTATOR)
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "token", "list", "--tokens-file", str(tokens)],
        capture_output=True,  # stdout is a pipe, not a terminal
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    header = next(line for line in lines if "role" in line)
    assert [word for word in header.split() if word.isalpha()] == [
        "id", "name", "role", "state", "created", "expires"
    ]  # fmt: skip
    assert any(LONG_NAME in line for line in lines)
    assert "…" not in done.stdout
    assert len(max(lines, key=len)) > 80  # the table is wider than Rich's default of 80
