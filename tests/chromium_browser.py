"""The ``browser`` fixture: Debian's Chromium, headless, driven by Playwright with the flags this
machine needs (services/web/chromium.py). Shared by the web app's page tests and the Label
Studio annotator-page test; each test opens its own context (its own cookies)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.web.chromium import CHROMIUM, CHROMIUM_FLAGS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium, launched once per session."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS), headless=True
        )  # Playwright gives every launch a fresh --user-data-dir
        try:
            yield launched
        finally:
            launched.close()
