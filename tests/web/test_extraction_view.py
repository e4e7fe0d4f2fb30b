"""The status page's feature-extraction bar: the JSON fields GET /api/v1/status gives it, and
the page's HTML that holds it (rendered from the template, no system started), and Chromium
drawing it from that JSON (the page and its scripts served by Playwright's routing)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from services.web.extraction_view import extraction_view
from services.web.pages import STATIC, static_url, templates

RUNNING = pb.GetStatusResponse(
    extraction=pb.ExtractionProgress(
        images_done=300,
        images_total=2100,
        images_per_second=8.0,
        seconds_left=225,
        running=True,
    )
)
"""A status with an extraction 300 of 2,100 images in, at 8 images/s, 225 s left."""


def test_extraction_view_gives_images_done_rate_and_time_left() -> None:
    assert extraction_view(RUNNING) == {
        "images_done": 300,
        "images_total": 2100,
        "images_per_second": 8.0,
        "seconds_left": 225.0,
        "running": True,
    }
    measuring = pb.GetStatusResponse(
        extraction=pb.ExtractionProgress(images_total=2100, seconds_left=-1, running=True)
    )
    view = extraction_view(measuring)
    assert view is not None and view["seconds_left"] is None


def test_extraction_view_is_none_before_the_extraction_began() -> None:
    assert extraction_view(pb.GetStatusResponse(serving_index_version=1)) is None


def _status_html() -> str:
    return templates.get_template("status.html").render(
        page="status",
        title="Status",
        csrf_token="",
        user={"name": "reader", "role": "reader"},
        static_url=static_url,
    )


def test_status_page_holds_a_hidden_extraction_progress_bar() -> None:
    html = _status_html()
    assert '<section class="card progress-panel" id="extraction"' in html
    assert 'id="extraction" aria-labelledby="extraction-heading" hidden>' in html
    assert '<progress id="extraction-bar" max="1" value="0"></progress>' in html


def test_status_page_shows_the_running_extraction_as_a_bar_in_the_browser(page: Any) -> None:
    """Chromium loads the page and its scripts; GET /api/v1/status answers a running extraction."""
    html = _status_html()
    status = {
        "services": [{"name": "coordinator", "address": "127.0.0.1:1", "health": "serving"}],
        "serving_index_version": 0,
        "serving_model_version": "",
        "round": None,
        "labels": None,
        "extraction": extraction_view(RUNNING),
    }

    def answer(route: Any) -> None:
        path = urlparse(route.request.url).path
        if path == "/status":
            route.fulfill(status=200, content_type="text/html", body=html)
        elif path == "/api/v1/status":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(status))
        elif path.startswith("/static/"):
            name = path.removeprefix("/static/")
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            route.fulfill(status=200, content_type=kind, body=(STATIC / name).read_bytes())
        else:
            route.fulfill(status=404, body="")

    page.route("http://status.test/**", answer)
    page.goto("http://status.test/status")
    bar = page.locator("#extraction-bar")
    bar.wait_for(state="visible", timeout=10_000)
    assert bar.evaluate("b => [b.value, b.max]") == [300, 2100]
    assert page.locator("#extraction-count").inner_text() == "300 / 2100 images"
    assert page.locator("#extraction-rate").inner_text() == "8.0 images/s · 3:45 left"
