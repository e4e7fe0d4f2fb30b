"""A whole system on loopback with the web app, on a tiny generated archive, and a real browser.

The system starts once per session as `anneal serve` starts it (TLS, tokens, six services and
the web app); tests sign in with the local tokens of each role. Chromium is Debian's package
(`.ci/run` installs it), driven by Playwright with the flags this machine needs.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from live_system import LiveSystem
from round_helpers import make_archive

from services.cli.system_config import SystemConfig, free_port_base
from services.cli.system_start import start_system


@pytest.fixture(scope="session")
def live_system() -> Iterator[LiveSystem]:
    with tempfile.TemporaryDirectory(prefix="anneal-web-") as scratch:
        root = Path(scratch)
        ids = make_archive(root / "archive")
        config = SystemConfig(
            archive=root / "archive",
            state_dir=root / "state",
            grpc_port_base=free_port_base(56051),
            metrics_port_base=free_port_base(9401, offsets=(0,), count=7),
            feature_cache=str(root / "features"),
            dim=8,
            log_level="WARNING",
        )
        supervisor = start_system(config, say=lambda _text: None, timeout_s=300)
        try:
            yield LiveSystem(config, supervisor, ids)
        finally:
            supervisor.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context, failing the test on any script error or CSP report."""
    context = browser.new_context()
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield opened
    context.close()
    assert not problems, problems
