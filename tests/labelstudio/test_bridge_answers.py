"""Annotations made through Label Studio's API arrive as pair labels under their annotator, by
webhook and by pull; an update replaces the annotator's answer, a deletion withdraws it."""

from __future__ import annotations

import pytest
from bridge_rig import BridgeRig
from studio_actions import annotate, change, project_titled, tasks_by_pair, wait_for

pytestmark = pytest.mark.integration
PAIRS = [("a.png", "b.png"), ("c.png", "d.png")]
ALICE = "labelstudio:alice@example.org"
BOB = "labelstudio:bob@example.org"


def opened(rig: BridgeRig, webhooks: bool) -> dict[int, int]:
    """Round 1 out through a started bridge; its task ids by pair id."""
    rig.open_round(1, PAIRS, overlap=2)
    rig.start(webhooks=webhooks).sync()
    admin = rig.studio.admin()
    project = project_titled(admin, f"{rig.title_prefix} round 1")
    return {pair: task.id for pair, task in tasks_by_pair(admin, project.id).items()}


def test_pulled_annotations_arrive_under_each_label_studio_user(rig: BridgeRig) -> None:
    tasks = opened(rig, webhooks=False)
    alice, bob = rig.studio.person("alice@example.org"), rig.studio.person("bob@example.org")
    annotate(alice, tasks[0], "Similar")
    annotate(bob, tasks[0], "Dissimilar")
    annotate(alice, tasks[1], "Unsure")  # stores nothing
    assert rig.counted() == []
    assert rig.bridge is not None
    report = rig.bridge.sync()
    assert report.stored == 2
    assert rig.counted() == [(ALICE, 0, True), (BOB, 0, False)]
    assert rig.bridge.sync().stored == 0  # pulling again changes nothing


def test_webhook_brings_an_annotation_without_a_pull(rig: BridgeRig) -> None:
    tasks = opened(rig, webhooks=True)
    annotate(rig.studio.person("alice@example.org"), tasks[1], "Dissimilar")
    wait_for(lambda: rig.counted() == [(ALICE, 1, False)], what="the webhook's label")


def test_an_updated_answer_replaces_the_earlier_one_and_a_deleted_one_is_withdrawn(
    rig: BridgeRig,
) -> None:
    tasks = opened(rig, webhooks=True)
    alice = rig.studio.person("alice@example.org")
    ident = annotate(alice, tasks[0], "Similar")
    wait_for(lambda: rig.counted() == [(ALICE, 0, True)], what="the first answer")
    change(alice, ident, "Dissimilar")
    wait_for(lambda: rig.counted() == [(ALICE, 0, False)], what="the changed answer")
    stored = rig.labels()
    assert [(s[2], s[4]) for s in stored] == [(True, True), (False, False)]  # old one withdrawn
    change(alice, ident, "Unsure")
    wait_for(lambda: rig.counted() == [], what="the Unsure answer withdrawing")
    change(alice, ident, "Similar")
    wait_for(lambda: rig.counted() == [(ALICE, 0, True)], what="an answer again")
    alice.annotations.delete(ident)
    wait_for(lambda: rig.counted() == [], what="the deletion withdrawing")
    assert rig.bridge is not None
    before = rig.labels()
    rig.bridge.sync()  # the pull agrees with what the webhooks did
    assert rig.labels() == before


def test_a_deletion_missed_while_away_is_withdrawn_by_the_pull(rig: BridgeRig) -> None:
    tasks = opened(rig, webhooks=False)
    alice = rig.studio.person("alice@example.org")
    ident = annotate(alice, tasks[0], "Similar")
    assert rig.bridge is not None
    rig.bridge.sync()
    assert rig.counted() == [(ALICE, 0, True)]
    alice.annotations.delete(ident)
    assert rig.bridge.sync().withdrawn == 1
    assert rig.counted() == []
