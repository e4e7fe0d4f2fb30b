"""The docs' screenshot of what a Label Studio annotator sees for one ANNEAL pair task.

Starts a real Label Studio (``make labelstudio``) serving UC Merced from its local-files
storage, creates a project with ANNEAL's labelling configuration, imports one pair task as the
bridge builds it (``LocalFilesUrls``), signs in as an annotator in Debian's Chromium and writes
docs/screenshots/labelstudio-task.png (1400 x 900).

    PYTHONPATH=$PWD .venv/bin/python bench/labelstudio_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from services.labelstudio.image_urls import LocalFilesUrls
from services.labelstudio.label_config import LABEL_CONFIG
from services.web.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.labelstudio.label_studio_server import start_label_studio

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "docs" / "screenshots" / "labelstudio-task.png"
DOCUMENT_ROOT = Path("/work/shared/data")
ARCHIVE = "ucmerced"
IMAGE_A = "beach/beach07.jpg"
IMAGE_B = "freeway/freeway12.jpg"
ANNOTATOR = "annotator@example.org"
TIMEOUT_MS = 60_000


def main() -> None:
    os.environ["LOCAL_FILES_SERVING_ENABLED"] = "true"
    os.environ["LOCAL_FILES_DOCUMENT_ROOT"] = str(DOCUMENT_ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_label_studio(Path(tmp) / "label-studio")
        try:
            admin = server.admin()
            project = admin.projects.create(title="ANNEAL round 1", label_config=LABEL_CONFIG)
            assert project.id is not None
            admin.import_storage.local.create(
                project=project.id,
                path=str(DOCUMENT_ROOT / ARCHIVE),
                use_blob_urls=False,
                title="UC Merced",
            )
            data = LocalFilesUrls(ARCHIVE).task_data(1, 0, IMAGE_A, IMAGE_B, time.time())
            admin.projects.import_tasks(id=project.id, request=[data])
            task = next(iter(admin.tasks.list(project=project.id)))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS)
                )
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                server.sign_in(page, ANNOTATOR)
                page.goto(f"{server.url}/projects/{project.id}/data?task={task.id}")
                page.wait_for_function(
                    "() => { const images = [...document.querySelectorAll('img')]"
                    "  .filter(i => i.src.includes('local-files'));"
                    "  return images.length >= 2 && images.every(i => i.naturalWidth > 0); }",
                    timeout=TIMEOUT_MS,
                )
                page.get_by_text("Dissimilar").first.wait_for(timeout=TIMEOUT_MS)
                page.wait_for_timeout(1000)
                SHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOT))
                browser.close()
            print(f"wrote {SHOT}")
        finally:
            server.process.terminate()
            try:
                server.process.wait(20)
            except subprocess.TimeoutExpired:
                server.process.kill()


if __name__ == "__main__":
    main()
