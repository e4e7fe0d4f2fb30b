"""Pulls between full ones list only the tasks Label Studio changed since the last pull, and
still find updates and deletions there; a task deleted whole is found by the next full pull;
the tasks within the margin of the latest change are listed again until the margin passed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from bridge_rig import BridgeRig
from studio_actions import annotate, change, project_titled, tasks_by_pair

from services.labelstudio.bridge import Bridge

pytestmark = pytest.mark.integration
PAIRS = [("a.png", "b.png"), ("c.png", "d.png"), ("e.png", "f.png"), ("g.png", "h.png")]
ALICE = "labelstudio:alice@example.org"
MARGIN_S = 2.0


def started(
    rig: BridgeRig, full_pull_s: float, margin_s: float = 0.0
) -> tuple[Bridge, dict[int, int]]:
    """Round 1 out (one pass, the first pull lists every task); its task ids by pair id. No
    margin for late commits unless asked: counts exact."""
    rig.environ["ANNEAL_LABELSTUDIO_FULL_PULL_S"] = str(full_pull_s)
    rig.open_round(1, PAIRS)
    bridge = rig.start(webhooks=False)
    bridge.pull_margin = timedelta(seconds=margin_s)
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


def test_a_pull_lists_the_tasks_within_its_margin_again_until_the_margin_has_passed(
    rig: BridgeRig,
) -> None:
    bridge, _tasks = started(rig, full_pull_s=3600, margin_s=MARGIN_S)
    began = time.monotonic()  # the tasks' import is the latest change, seen just now
    assert bridge.sync().listed == len(PAIRS)  # all changed within the margin of it
    time.sleep(max(0.0, MARGIN_S + 0.2 - (time.monotonic() - began)))
    assert bridge.sync().listed == len(PAIRS)  # relisted once more, a margin later
    assert bridge.sync().listed == 0  # settled: a quiet project lists nothing
