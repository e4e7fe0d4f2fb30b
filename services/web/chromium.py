"""How this project drives a real browser: Debian's Chromium, headless, with the flags this
workplace's closed network needs (the browser tests, bench/web_pages.py)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Without the background-networking flags Chromium keeps dialling hosts it cannot reach."""
