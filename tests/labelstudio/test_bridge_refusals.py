"""Forged, foreign and malformed webhook deliveries are refused with a reason, logged and
counted; a replay of every delivery, twice, changes nothing."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from bridge_rig import WEBHOOK_SECRET, BridgeRig, free_port
from studio_actions import annotate, change, project_titled, tasks_by_pair, wait_for

from services.labelstudio.metrics import REFUSED
from services.labelstudio.studio import SECRET_HEADER

pytestmark = pytest.mark.integration
PAIRS = [("a.png", "b.png"), ("c.png", "d.png")]


def refused(reason: str) -> float:
    return float(REFUSED.labels(reason)._value.get())


def post(url: str, body: Any, secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=content, headers=headers, timeout=10)


def created(project_id: int, task_id: int, annotation_id: int = 999_999) -> dict[str, Any]:
    return {
        "action": "ANNOTATION_CREATED",
        "project": {"id": project_id},
        "annotation": {
            "id": annotation_id,
            "task": task_id,
            "project": project_id,
            "completed_by": 1,
            "updated_at": "2026-12-02T10:00:00Z",
            "was_cancelled": False,
            "result": [{"from_name": "answer", "value": {"choices": ["Similar"]}}],
        },
    }


def test_forged_foreign_and_malformed_webhooks_are_refused_and_counted(rig: BridgeRig) -> None:
    rig.open_round(1, PAIRS)
    bridge = rig.start()
    bridge.sync()
    assert rig.webhook is not None
    url = rig.webhook.url
    admin = rig.studio.admin()
    project = project_titled(admin, f"{rig.title_prefix} round 1")
    task = tasks_by_pair(admin, project.id)[0]
    stray = admin.projects.import_tasks(
        project.id, request=[{"data": {"image_a": "/x", "image_b": "/y"}}], return_task_ids=True
    ).task_ids[0]
    cases = [
        ("wrong_secret", 403, created(project.id, task.id), "not-the-secret"),
        ("wrong_secret", 403, created(project.id, task.id), None),
        ("foreign_project", 404, created(project.id + 1000, task.id), WEBHOOK_SECRET),
        ("not_our_task", 404, created(project.id, stray), WEBHOOK_SECRET),
        ("malformed", 400, b"{not json", WEBHOOK_SECRET),
        ("malformed", 400, {"action": "ANNOTATION_CREATED", "project": {"id": 1}}, WEBHOOK_SECRET),
    ]
    for reason, status, body, secret in cases:
        before = refused(reason)
        reply = post(url, body, secret)
        assert reply.status_code == status, (reason, reply.text)
        assert reply.json()["error"] == reason
        assert "Traceback" not in reply.text
        assert refused(reason) == before + 1, reason
    assert rig.counted() == []  # none of them stored anything


class _Recorder(BaseHTTPRequestHandler):
    """Forwards each delivery to the bridge and keeps a copy of it."""

    bodies: ClassVar[list[bytes]] = []
    target: ClassVar[str] = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).bodies.append(body)
        reply = post(self.target, body, self.headers.get(SECRET_HEADER))
        self.send_response(reply.status_code)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_every_webhook_replayed_twice_changes_nothing(rig: BridgeRig) -> None:
    rig.open_round(1, PAIRS, overlap=2)
    port = free_port()
    recorder = HTTPServer(("127.0.0.1", port), _Recorder)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    rig.environ["ANNEAL_LABELSTUDIO_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/webhook"
    # The bridge's receiver runs too, and the recorder forwards to it.
    bridge = rig.start(webhooks=False)
    from bridge_rig import serve_webhooks

    receiver_port = free_port()
    rig.webhook = serve_webhooks(bridge, WEBHOOK_SECRET, receiver_port)
    _Recorder.bodies, _Recorder.target = [], f"http://127.0.0.1:{receiver_port}/webhook"
    bridge.sync()
    admin = rig.studio.admin()
    tasks = tasks_by_pair(admin, project_titled(admin, f"{rig.title_prefix} round 1").id)
    alice, bob = rig.studio.person("alice@example.org"), rig.studio.person("bob@example.org")
    first = annotate(alice, tasks[0].id, "Similar")
    annotate(bob, tasks[1].id, "Dissimilar")
    change(alice, first, "Dissimilar")
    second = annotate(alice, tasks[1].id, "Similar")
    alice.annotations.delete(second)
    wait_for(lambda: len(_Recorder.bodies) == 5, what="five deliveries")
    wait_for(
        lambda: (
            rig.counted()
            == [
                ("labelstudio:alice@example.org", 0, False),
                ("labelstudio:bob@example.org", 1, False),
            ]
        ),
        what="the answers after the deliveries",
    )
    settled = rig.labels()
    for _ in range(2):
        for body in list(_Recorder.bodies):
            assert post(_Recorder.target, body).status_code == 200
    assert rig.labels() == settled
    recorder.shutdown()
