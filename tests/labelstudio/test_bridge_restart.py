"""The bridge killed (SIGKILL) in the middle of its syncs, again and again, and started again
loses and duplicates nothing: every annotation ends as exactly one counted answer, under the key
of its last revision."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bridge_rig import REPO_ROOT, BridgeRig, free_port
from studio_actions import annotate, change, project_titled, tasks_by_pair, wait_for

pytestmark = pytest.mark.integration
PAIRS = [(f"p{i:03d}a.png", f"p{i:03d}b.png") for i in range(40)]
ALICE = "labelstudio:alice@example.org"
BOB = "labelstudio:bob@example.org"


def start_bridge(rig: BridgeRig, log: Path) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        **rig.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "ANNEAL_PORT": str(free_port()),
        "ANNEAL_METRICS_PORT": str(free_port()),
        "ANNEAL_LABELSTUDIO_POLL_S": "0.2",
        "ANNEAL_LABELSTUDIO_BATCH": "3",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.labelstudio"],
        env=environ,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_a_bridge_killed_mid_sync_and_restarted_loses_and_duplicates_nothing(
    rig: BridgeRig, tmp_path: Path
) -> None:
    rig.open_round(1, PAIRS, overlap=2)
    log = tmp_path / "bridge.log"
    admin = rig.studio.admin()
    title = f"{rig.title_prefix} round 1"

    def tasks_out() -> bool:
        try:
            return len(tasks_by_pair(admin, project_titled(admin, title).id)) == len(PAIRS)
        except AssertionError:
            return False

    bridge = start_bridge(rig, log)
    wait_for(tasks_out, 90, "the round's tasks in Label Studio")
    bridge.kill()
    bridge.wait()
    tasks = tasks_by_pair(admin, project_titled(admin, title).id)
    alice, bob = rig.studio.person("alice@example.org"), rig.studio.person("bob@example.org")
    expected = set()
    for pair in range(len(PAIRS)):
        ident = annotate(alice, tasks[pair].id, "Similar")
        if pair % 4 == 0:
            change(alice, ident, "Dissimilar")  # an update: the Similar must not count
            expected.add((ALICE, pair, False))
        elif pair % 4 == 1:
            alice.annotations.delete(ident)  # deleted: nothing counts
        else:
            expected.add((ALICE, pair, True))
        if pair % 2 == 0:
            annotate(bob, tasks[pair].id, "Dissimilar")
            expected.add((BOB, pair, False))

    kills = 0
    for _ in range(8):  # killed as soon as it has stored part of the answers
        before = len(rig.labels())
        bridge = start_bridge(rig, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and bridge.poll() is None:
            if len(rig.labels()) > before or set(rig.counted()) == expected:
                break
            time.sleep(0.01)
        if set(rig.counted()) == expected:
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(20)
            break
        bridge.kill()
        bridge.wait()
        kills += 1
    else:
        bridge = start_bridge(rig, log)
        wait_for(lambda: set(rig.counted()) == expected, 60, "every answer after the kills")
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(20)
    assert kills >= 1, "the bridge was never killed mid-sync"
    counted = rig.counted()
    assert sorted(set(counted)) == counted, "an answer counted twice"
    assert set(counted) == expected
    keys = [key for annotator, _p, _s, key, withdrawn in rig.labels() if not withdrawn]
    assert all(key.startswith("labelstudio-") for key in keys)
