"""What annotators and project managers do in Label Studio, through its API as their clients do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from label_studio_sdk import LabelStudio


def result(choice: str) -> list[dict[str, Any]]:
    return [
        {
            "from_name": "answer",
            "to_name": "image_a",
            "type": "choices",
            "value": {"choices": [choice]},
        }
    ]


def project_titled(client: LabelStudio, title: str) -> Any:
    for project in client.projects.list(search=title):
        if project.title == title:
            return project
    raise AssertionError(f"no Label Studio project {title!r}")


def tasks_by_pair(client: LabelStudio, project_id: int) -> dict[int, Any]:
    """The project's tasks by our pair id."""
    return {
        t.data["anneal_pair_id"]: t
        for t in client.tasks.list(project=project_id, fields="all")
        if "anneal_pair_id" in (t.data or {})
    }


def annotate(client: LabelStudio, task_id: int, choice: str) -> int:
    """An annotation of ``client``'s person; its id."""
    created = client.annotations.create(task_id, result=result(choice))  # type: ignore[arg-type]
    assert created.id is not None
    return int(created.id)


def change(client: LabelStudio, annotation_id: int, choice: str) -> None:
    client.annotations.update(annotation_id, result=result(choice))  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> float:
    """Seconds until ``condition()`` held; AssertionError after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started
