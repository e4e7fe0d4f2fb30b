"""The status page's feature-extraction bar: the JSON fields GET /api/v1/status gives it, and
the page's HTML that holds it (rendered from the template, no system started)."""

from __future__ import annotations

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from services.web.extraction_view import extraction_view
from services.web.pages import static_url, templates


def test_extraction_view_gives_images_done_rate_and_time_left() -> None:
    running = pb.GetStatusResponse(
        extraction=pb.ExtractionProgress(
            images_done=300,
            images_total=2100,
            images_per_second=8.0,
            seconds_left=225,
            running=True,
        )
    )
    assert extraction_view(running) == {
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


def test_status_page_holds_a_hidden_extraction_progress_bar() -> None:
    html = templates.get_template("status.html").render(
        page="status",
        title="Status",
        csrf_token="",
        user={"name": "reader", "role": "reader"},
        static_url=static_url,
    )
    assert '<section class="card progress-panel" id="extraction"' in html
    assert 'id="extraction" aria-labelledby="extraction-heading" hidden>' in html
    assert '<progress id="extraction-bar" max="1" value="0"></progress>' in html
