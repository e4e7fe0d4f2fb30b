"""The web app alone over a tiny archive, served by uvicorn on loopback, for tests of its signed
image links (tests/web/test_signed_links.py, and Label Studio loading them in a browser,
tests/labelstudio/test_annotator_page.py). No services behind it: links need none."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from PIL import Image

from services.common.image_links import ImageLinks
from services.security.channels import ChannelSecurity
from services.web.app import create_app
from services.web.context import WebContext
from services.web.image_preview import ImagePreviews
from services.web.sessions import SessionStore
from services.web.system_client import SystemClient

_SERVICES = ("retrieval", "embedding", "search", "selection", "labels", "coordinator")


def write_png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path, "PNG")


@contextmanager
def app_over(
    archive: Path, links: ImageLinks | None, image_ids: list[str]
) -> Iterator[httpx.Client]:
    """A client of the web app over ``archive`` (its ``base_url`` is the app's address)."""
    nowhere = SystemClient({name: "127.0.0.1:9" for name in _SERVICES}, ChannelSecurity())
    context = WebContext(
        client=nowhere,
        sessions=SessionStore(),
        tokens=None,
        image_ids=image_ids,
        secure_cookies=False,
    )
    app = create_app(context, ImagePreviews(archive), links)
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.02)
        port = listening.getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()
        nowhere.close()
