"""An annotator in a real browser (Chromium) on Label Studio's own task page: both scenes load
through the system's signed links (served by the web app from a tiny archive, with the key the
bridge signs with), and clicking Similar and Submit stores the answer as a pair label under
that Label Studio user, by webhook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bridge_rig import BridgeRig
from link_app import app_over, write_png
from studio_actions import project_titled, tasks_by_pair, wait_for

from services.common.image_links import ImageLinks, load_key

pytestmark = pytest.mark.integration
ANNOTATOR = "page-annotator@example.org"
SIZES = {"scenes/wide.png": (64, 32), "scenes/square.png": (48, 48)}
TIMEOUT_MS = 60_000
LOADED_LINK_IMAGES = """() => [...document.querySelectorAll('img')]
  .filter(i => i.src.includes('/links/v1/images/') && i.complete && i.naturalWidth > 0)
  .map(i => [i.naturalWidth, i.naturalHeight])"""


def test_an_annotator_sees_both_scenes_and_submits_similar_in_label_studio(
    rig: BridgeRig,
    browser: Any,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    for image_id, size in SIZES.items():
        write_png(archive / image_id, size)
    links = ImageLinks(load_key(rig.state_dir / "image-links.key"))
    with app_over(archive, links, sorted(SIZES)) as web:
        rig.environ["ANNEAL_LABELSTUDIO_IMAGE_BASE_URL"] = str(web.base_url).rstrip("/")
        rig.open_round(1, [tuple(SIZES)])  # type: ignore[list-item]
        rig.start(webhooks=True).sync()
        admin = rig.studio.admin()
        project = project_titled(admin, f"{rig.title_prefix} round 1")
        task = tasks_by_pair(admin, project.id)[0]
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            rig.studio.sign_in(page, ANNOTATOR)
            page.goto(f"{rig.studio.url}/projects/{project.id}/data?task={task.id}")
            page.wait_for_function(
                f"() => ({LOADED_LINK_IMAGES})().length >= 2", timeout=TIMEOUT_MS
            )
            assert sorted(map(tuple, page.evaluate(LOADED_LINK_IMAGES))) == sorted(SIZES.values())
            page.locator("input[name=Similar]").check()  # the choice labelled "Similar [y]"
            page.get_by_role("button", name="Submit current annotation").click()
            wait_for(
                lambda: rig.counted() == [(f"labelstudio:{ANNOTATOR}", 0, True)],
                timeout_s=60,
                what="the answer submitted in the browser as a pair label",
            )
        finally:
            context.close()
