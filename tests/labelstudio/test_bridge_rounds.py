"""A round goes out to a real Label Studio as a project of pairwise tasks, and its end takes the
tasks out of the labelling stream for good."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from bridge_rig import WEBHOOK_SECRET, BridgeRig
from studio_actions import annotate, project_titled, tasks_by_pair

from services.common.image_links import ImageLinks, load_key
from services.labelstudio.metrics import REFUSED
from services.labelstudio.studio import SECRET_HEADER

pytestmark = pytest.mark.integration


def refused(reason: str) -> float:
    return float(REFUSED.labels(reason)._value.get())


PAIRS = [("scenes/a.png", "scenes/b.png"), ("scenes/c.png", "scenes/d.png"), ("x/e.tif", "x/f.tif")]


def test_an_open_round_appears_as_tasks_with_signed_links_overlap_and_webhook(
    rig: BridgeRig,
) -> None:
    rig.open_round(1, PAIRS, overlap=2)
    bridge = rig.start()
    report = bridge.sync()
    assert report.imported == 3
    admin = rig.studio.admin()
    project = project_titled(admin, f"{rig.title_prefix} round 1")
    assert project.maximum_annotations == 2
    tasks = tasks_by_pair(admin, project.id)
    assert sorted(tasks) == [0, 1, 2]
    links = ImageLinks(load_key(rig.state_dir / "image-links.key"))
    for pair_id, (image_a, image_b) in enumerate(PAIRS):
        data = tasks[pair_id].data
        assert data["anneal_round"] == 1
        assert (data["anneal_image_a"], data["anneal_image_b"]) == (image_a, image_b)
        url = urlparse(data["image_a"])
        assert url.path == f"/links/v1/images/{image_a}"
        query = parse_qs(url.query)
        links.check(image_a, query["expires"][0], query["signature"][0], now_unix=0)
    hooks = list(admin.webhooks.list(project=str(project.id)))
    assert [h.url for h in hooks] == [rig.webhook.url if rig.webhook else ""]
    assert hooks[0].headers == {SECRET_HEADER: WEBHOOK_SECRET}
    assert bridge.sync().imported == 0  # a second pass imports nothing again


def test_a_restarted_bridge_finds_the_project_by_title_and_imports_no_task_twice(
    rig: BridgeRig,
) -> None:
    rig.open_round(1, PAIRS)
    rig.start(webhooks=False).sync()
    (rig.state_dir / "bridge.db").unlink()  # even with its state lost
    assert rig.start(webhooks=False).sync().imported == 0
    admin = rig.studio.admin()
    project = project_titled(admin, f"{rig.title_prefix} round 1")
    assert len(list(admin.tasks.list(project=project.id))) == 3


def test_closing_the_round_takes_every_task_out_for_good_and_refuses_later_answers(
    rig: BridgeRig,
) -> None:
    rig.open_round(1, PAIRS, overlap=1)
    bridge = rig.start(webhooks=False)
    bridge.sync()
    admin = rig.studio.admin()
    project = project_titled(admin, f"{rig.title_prefix} round 1")
    tasks = tasks_by_pair(admin, project.id)
    alice = rig.studio.person("alice@example.org")
    alices = annotate(alice, tasks[0].id, "Similar")
    bridge.sync()
    rig.store.close_round(1)  # as the coordinator's CloseRound does
    bob = rig.studio.person("bob@example.org")
    annotate(bob, tasks[1].id, "Dissimilar")  # after the close: refused by the label service
    closed_refusals = refused("round_closed")
    bridge.sync()
    assert refused("round_closed") == closed_refusals + 1
    closed = admin.projects.get(project.id)
    assert closed.title == f"{rig.title_prefix} round 1 (closed)"
    after = tasks_by_pair(admin, project.id)
    assert all(after[p].is_labeled for p in (0, 1, 2))
    assert rig.counted() == [("labelstudio:alice@example.org", 0, True)]
    # Nothing is asked in the stream any more.
    bob = rig.studio.person("bob@example.org")
    reply = bob._client_wrapper.httpx_client.request(
        f"api/projects/{project.id}/next", method="GET"
    )
    assert reply.status_code == 404
    # A deletion after the close brings no task back into the stream (Label Studio recomputes
    # is_labeled against the closed project's overlap of 0).
    alice.annotations.delete(alices)
    assert all(t.is_labeled for t in tasks_by_pair(admin, project.id).values())
    assert (
        bob._client_wrapper.httpx_client.request(
            f"api/projects/{project.id}/next", method="GET"
        ).status_code
        == 404
    )
