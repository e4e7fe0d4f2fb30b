"""Pulls between full ones list only the tasks Label Studio changed since the last pull, and
still find updates and deletions there; a task deleted whole is found by the next full pull."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bridge_rig import BridgeRig
from studio_actions import annotate, change, project_titled, tasks_by_pair

from services.labelstudio.bridge import Bridge

pytestmark = pytest.mark.integration
PAIRS = [("a.png", "b.png"), ("c.png", "d.png"), ("e.png", "f.png"), ("g.png", "h.png")]
ALICE = "labelstudio:alice@example.org"


def started(rig: BridgeRig, full_pull_s: float) -> tuple[Bridge, dict[int, int]]:
    """Round 1 out (one pass, the first pull lists every task); its task ids by pair id."""
    rig.environ["ANNEAL_LABELSTUDIO_FULL_PULL_S"] = str(full_pull_s)
    rig.open_round(1, PAIRS)
    bridge = rig.start(webhooks=False)
    bridge.pull_margin = timedelta(0)  # no margin for late commits: counts exact
    assert bridge.sync().listed == len(PAIRS)
    admin = rig.studio.admin()
    project = project_titled(admin, f"{rig.title_prefix} round 1")
    return bridge, {pair: task.id for pair, task in tasks_by_pair(admin, project.id).items()}


def test_a_pull_between_full_ones_lists_only_changed_tasks_and_sees_updates_and_deletions(
    rig: BridgeRig,
) -> None:
    bridge, tasks = started(rig, full_pull_s=3600)
    alice = rig.studio.person("alice@example.org")
    first = annotate(alice, tasks[1], "Similar")
    report = bridge.sync()
    assert (report.listed, report.stored) == (1, 1)
    assert rig.counted() == [(ALICE, 1, True)]
    change(alice, first, "Dissimilar")
    annotate(alice, tasks[2], "Similar")
    report = bridge.sync()
    assert (report.listed, report.stored, report.withdrawn) == (2, 2, 1)
    assert rig.counted() == [(ALICE, 1, False), (ALICE, 2, True)]
    alice.annotations.delete(first)
    report = bridge.sync()
    assert (report.listed, report.withdrawn) == (1, 1)
    assert rig.counted() == [(ALICE, 2, True)]
    assert bridge.sync().listed == 0  # nothing changed: nothing listed


def test_a_task_deleted_whole_is_found_by_the_next_full_pull(rig: BridgeRig) -> None:
    bridge, tasks = started(rig, full_pull_s=3600)
    alice = rig.studio.person("alice@example.org")
    annotate(alice, tasks[3], "Similar")
    bridge.sync()
    assert rig.counted() == [(ALICE, 3, True)]
    rig.studio.admin().tasks.delete(str(tasks[3]))  # no task is left to list as changed
    assert bridge.sync().withdrawn == 0
    bridge.full_pull_s = 0.0  # the full pull is due
    report = bridge.sync()
    assert report.withdrawn == 1 and report.listed == len(PAIRS) - 1
    assert rig.counted() == []


def test_a_pull_lists_again_the_tasks_changed_within_its_margin_of_the_latest_change(
    rig: BridgeRig,
) -> None:
    bridge, _tasks = started(rig, full_pull_s=3600)
    assert bridge.sync().listed == 0  # the tasks' import is the latest change, no margin
    bridge.pull_margin = timedelta(hours=1)
    assert bridge.sync().listed == len(PAIRS)
