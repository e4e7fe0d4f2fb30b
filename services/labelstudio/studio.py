"""The bridge's calls to Label Studio, through its SDK (``label-studio-sdk``).

One project per round (title ``<prefix> round <n>``), found again by title after a restart; one
webhook per project, carrying the bridge's secret as a header; tasks whose data holds both
scenes' URLs and our ``anneal_round`` / ``anneal_pair_id``. Errors of the SDK (HTTP status and
body) are raised as they are: the caller logs them and the next sync tries again.

Two things lean on how Label Studio computes a task's ``is_labeled`` (annotators counted against
the task's ``overlap``, which follows the project's ``maximum_annotations``): a project closed
with ``maximum_annotations`` 0 has every task labelled at once, in one call, and stays so when an
annotation is deleted later; and a task's ``updated_at`` moves when one of its annotations is
created, updated or deleted, so a pull can list only the tasks changed since the last one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from label_studio_sdk import LabelStudio

from services.labelstudio.annotation import ACTIONS
from services.labelstudio.label_config import LABEL_CONFIG

SECRET_HEADER = "X-Anneal-Webhook-Secret"
PAGE_SIZE = 500
IMPORT_BATCH = 1000
ROUND_KEY = "anneal_round"
PAIR_KEY = "anneal_pair_id"
FILTER_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""How Label Studio's Data Manager reads a Datetime filter's value (UTC)."""


@dataclass(frozen=True)
class StudioTask:
    """A task of a project: its id, data, its annotations as Label Studio lists them, and when
    it last changed (Label Studio's clock; None where the listing leaves it out)."""

    id: int
    data: Mapping[str, Any]
    annotations: tuple[Mapping[str, Any], ...]
    updated_at: datetime | None = None

    def pair(self) -> tuple[int, int] | None:
        """(round, pair id) when the task is one of ours, else None."""
        round_number, pair_id = self.data.get(ROUND_KEY), self.data.get(PAIR_KEY)
        if isinstance(round_number, int) and isinstance(pair_id, int):
            return round_number, pair_id
        return None


class Studio:
    """A Label Studio server reached with an API token (a personal access token, or a legacy
    token where the organisation still allows those)."""

    def __init__(self, url: str, token: str, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._client = LabelStudio(base_url=self.url, api_key=token, timeout=timeout_s)
        self._emails: dict[int, str] = {}

    def project_titled(self, title: str) -> int | None:
        """The id of the project with exactly this title, if there is one."""
        projects: Any = self._client.projects.list(search=title, page_size=100)
        for project in projects:
            if project.title == title and project.id is not None:
                return int(project.id)
        return None

    def create_project(self, title: str, description: str, overlap: int) -> int:
        project: Any = self._client.projects.create(
            title=title,
            description=description,
            label_config=LABEL_CONFIG,
            maximum_annotations=overlap,
            show_skip_button=True,
        )
        assert project.id is not None
        return int(project.id)

    def set_project(self, project_id: int, title: str, overlap: int) -> None:
        self._client.projects.update(project_id, title=title, maximum_annotations=overlap)

    def ensure_webhook(self, project_id: int, url: str, secret: str) -> int:
        """The project's webhook to ``url`` with the secret header, created or corrected."""
        headers = {SECRET_HEADER: secret}
        for hook in self._client.webhooks.list(project=str(project_id)):
            if hook.url == url and hook.id is not None:
                if hook.headers != headers or not hook.is_active:
                    self._client.webhooks.update(hook.id, url=url, headers=headers, is_active=True)
                return int(hook.id)
        hook = self._client.webhooks.create(
            url=url,
            project=project_id,
            headers=headers,
            send_payload=True,
            send_for_all_actions=False,
            actions=list(ACTIONS),
            is_active=True,
        )
        assert hook.id is not None
        return int(hook.id)

    def tasks(
        self, project_id: int, with_annotations: bool, updated_after: datetime | None = None
    ) -> Iterator[StudioTask]:
        """The project's tasks page by page: all of them, or those changed after
        ``updated_after`` (a Data Manager filter on the task's ``updated_at``)."""
        query = None
        if updated_after is not None:
            value = updated_after.astimezone(UTC).strftime(FILTER_TIME_FORMAT)
            item = {
                "filter": "filter:tasks:updated_at",
                "operator": "greater",
                "type": "Datetime",
                "value": value,
            }
            query = json.dumps({"filters": {"conjunction": "and", "items": [item]}})
        # "all" for the annotations' full objects (``include`` would shorten them to a few
        # fields, without their annotator).
        pager: Any = self._client.tasks.list(
            project=project_id,
            fields="all" if with_annotations else "task_only",
            page_size=PAGE_SIZE,
            query=query,
        )
        for task in pager:
            annotations = tuple(
                a if isinstance(a, Mapping) else a.dict() for a in (task.annotations or ())
            )
            yield StudioTask(
                int(task.id), dict(task.data or {}), annotations, _when(task.updated_at)
            )

    def task(self, task_id: int) -> StudioTask:
        task: Any = self._client.tasks.get(str(task_id))
        return StudioTask(id=int(task.id), data=dict(task.data or {}), annotations=())

    def import_tasks(self, project_id: int, data: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(data), IMPORT_BATCH):
            chunk = [{"data": dict(item)} for item in data[start : start + IMPORT_BATCH]]
            self._client.projects.import_tasks(project_id, request=chunk)  # type: ignore[arg-type]

    def update_task_data(self, task_id: int, data: Mapping[str, Any]) -> None:
        self._client.tasks.update(str(task_id), data=dict(data))

    def close_project(self, project_id: int, title: str) -> None:
        """Every task of the project out of the labelling stream for good, in one call: with
        ``maximum_annotations`` 0 each task counts as labelled (see the module docstring)."""
        self._client.projects.update(project_id, title=title, maximum_annotations=0)

    def user_email(self, user_id: int) -> str:
        """The Label Studio user's email (cached): the annotator's name on our side."""
        if user_id not in self._emails:
            user = self._client.users.get(user_id)
            self._emails[user_id] = str(user.email or f"user-{user_id}")
        return self._emails[user_id]


def _when(value: object) -> datetime | None:
    """A listing's time (a datetime, or its ISO text in some SDK types) as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
