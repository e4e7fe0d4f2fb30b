"""The alerts, checked and unit-tested by Prometheus's own ``promtool`` (Debian's ``prometheus``).

``promtool check rules`` validates each overlay's rule groups; ``promtool test rules`` replays
hand-written series: an alert fires from its owner's series, and not from the same metric under
another job (a stale process exporting it must not count twice), a service that stops answering
scrapes and one that restarts over and over are alerted on. .ci/run installs the package; where
promtool is missing outside CI the tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manifests import OVERLAYS, named, render


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: apt-get install prometheus (.ci/run does)")
        pytest.skip("promtool is missing (Debian package prometheus)")
    return found


def rules_of(overlay: str) -> dict[str, Any]:
    return {"groups": named(render(overlay), "PrometheusRule", "anneal")["spec"]["groups"]}


def annotations(rules: dict[str, Any], alert: str) -> dict[str, str]:
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alert)
    return dict(rule["annotations"])


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_promtool_accepts_the_rules(overlay: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules_of(overlay)))
    checked = run_promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def alert_tests(rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Series over 20 one-minute steps and the alerts expected from them."""
    failed = annotations(rules, "AnnealIndexRebuildFailed")
    pod = {"job": "labels", "pod": "labels-0"}
    down = {
        "summary": "labels (labels-0) does not answer its metrics scrape.",
        "description": annotations(rules, "AnnealServiceDown")["description"],
    }
    looping = {
        "summary": "labels (labels-0) restarted 3 or more times in 15 minutes.",
        "description": annotations(rules, "AnnealServiceCrashLooping")["description"],
    }
    return [
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": 'anneal_index_rebuild_failures_total{job="search",pod="search-0"}',
                    "values": "0x9 1x10",
                },
                {  # the same name from a non-owner (an old build of the coordinator): ignored
                    "series": 'anneal_index_rebuild_failures_total{job="coordinator"}',
                    "values": "0x4 5x15",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": "AnnealIndexRebuildFailed", "exp_alerts": []},
                {
                    "eval_time": "12m",
                    "alertname": "AnnealIndexRebuildFailed",
                    "exp_alerts": [
                        {"exp_labels": {"severity": "warning"}, "exp_annotations": failed}
                    ],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                {"series": 'up{job="labels",pod="labels-0"}', "values": "1x5 0x14"},
                {"series": 'up{job="search",pod="search-0"}', "values": "1x19"},
            ],
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": "AnnealServiceDown", "exp_alerts": []},
                {
                    "eval_time": "9m",
                    "alertname": "AnnealServiceDown",
                    "exp_alerts": [
                        {
                            "exp_labels": {**pod, "severity": "critical"},
                            "exp_annotations": down,
                        }
                    ],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                {  # started at t=100 s, then restarted at 3, 6 and 9 minutes
                    "series": 'process_start_time_seconds{job="labels",pod="labels-0"}',
                    "values": "100 100 100 280 280 280 460 460 460 640 640 640",
                },
                {  # started once and left alone
                    "series": 'process_start_time_seconds{job="search",pod="search-0"}',
                    "values": "50x11",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "7m", "alertname": "AnnealServiceCrashLooping", "exp_alerts": []},
                {
                    "eval_time": "10m",
                    "alertname": "AnnealServiceCrashLooping",
                    "exp_alerts": [
                        {
                            "exp_labels": {**pod, "severity": "critical"},
                            "exp_annotations": looping,
                        }
                    ],
                },
            ],
        },
    ]


def test_alerts_fire_from_their_owners_series_only(tmp_path: Path) -> None:
    rules = rules_of("prod")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    unit = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": alert_tests(rules),
    }
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(unit))
    tested = run_promtool("test", "rules", str(tmp_path / "alerts_test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
