"""Puts tests/ on ``sys.path`` so every suite can import the shared helpers kept here
(``call_edges``: the calls the services' code makes), as tests/k8s imports ``k8s_manifests``,
and provides the session's ``browser`` (tests/chromium_browser.py)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# One Chromium for the whole session, shared by the web app's page tests and the Label Studio
# annotator-page test: Playwright's sync API runs one instance per process.
from chromium_browser import browser  # noqa: E402, F401
