"""A real Label Studio server (PyPI ``label-studio``, in ``.venv-labelstudio``) for the tests.

Started once per test session (``make labelstudio`` installs it; ``make test`` does that first)
with its SQLite database under pytest's temporary directory and a free port; about 40 s the
first time (migrations). ``USE_DEFAULT_BANNED_SUBNETS=false`` lets its webhooks reach the
bridge on loopback (Label Studio refuses private and loopback addresses by default, its SSRF
protection). People sign up and create their personal access tokens through the same HTTP
endpoints Label Studio's web pages use (version 1.23 refuses legacy tokens).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk import LabelStudio

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(
    os.environ.get("ANNEAL_LABEL_STUDIO_BIN", REPO / ".venv-labelstudio/bin/label-studio")
)
START_TIMEOUT_S = 180.0
ADMIN = ("admin@example.org", "admin-password-1")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def personal_token(url: str, email: str, password: str, sign_up: bool) -> str:
    """A personal access token of this person, signing them up first when ``sign_up``."""
    with httpx.Client(base_url=url, follow_redirects=True, timeout=30) as web:
        page = "/user/signup" if sign_up else "/user/login"
        web.get(page)
        form = {
            "email": email,
            "password": password,
            "csrfmiddlewaretoken": web.cookies["csrftoken"],
        }
        reply = web.post(page, data=form)
        reply.raise_for_status()
        created = web.post("/api/token/", headers={"X-CSRFToken": web.cookies["csrftoken"]})
        if created.status_code != 201:
            raise RuntimeError(f"no token for {email}: {created.status_code} {created.text[:200]}")
        return str(created.json()["token"])


@dataclass
class LabelStudioServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    admin_token: str = ""
    _people: dict[str, str] = field(default_factory=dict)

    def admin(self) -> LabelStudio:
        return LabelStudio(base_url=self.url, api_key=self.admin_token)

    def person(self, email: str) -> LabelStudio:
        """A client of ``email`` (signed up on first use), as an annotator's own tools are."""
        if email not in self._people:
            self._people[email] = personal_token(self.url, email, _password_of(email), True)
        return LabelStudio(base_url=self.url, api_key=self._people[email])

    def sign_in(self, page: Any, email: str) -> None:
        """Signs ``email`` in on a Playwright page, through Label Studio's login form."""
        self.person(email)  # signed up first
        page.goto(f"{self.url}/user/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", _password_of(email))
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state("networkidle")


def _password_of(email: str) -> str:
    return "password-of-" + email


def start_label_studio(data_dir: Path) -> LabelStudioServer:
    if not BINARY.exists():
        raise RuntimeError(f"{BINARY} is missing: run `make labelstudio`")
    port = _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "label-studio.log"
    env = {
        **os.environ,
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "DJANGO_DB": "sqlite",
    }
    process = subprocess.Popen(
        [
            str(BINARY),
            "start",
            "--no-browser",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir / "data"),
            "--username",
            ADMIN[0],
            "--password",
            ADMIN[1],
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=data_dir,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Label Studio exited ({process.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        process.kill()
        raise RuntimeError(f"Label Studio did not answer /health in {START_TIMEOUT_S:.0f} s")
    server = LabelStudioServer(url, process, log)
    server.admin_token = personal_token(url, ADMIN[0], ADMIN[1], sign_up=False)
    return server


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    server = start_label_studio(tmp_path_factory.mktemp("label-studio"))
    yield server
    server.process.terminate()
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        server.process.kill()
