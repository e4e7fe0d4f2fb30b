"""An annotation as the bridge reads it, from a webhook payload or from a task listing.

Label Studio sends the same annotation object in both (ids, ``result``, ``was_cancelled``,
``completed_by``, ``updated_at``); its revision is ``updated_at`` in microseconds, which rises
with every update of the same annotation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.labelstudio.label_config import AnswerError, answer_of
from services.labelstudio.refusal import Refusal

ACTIONS_CHANGED = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
ACTION_DELETED = "ANNOTATIONS_DELETED"
ACTIONS = (*ACTIONS_CHANGED, ACTION_DELETED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Annotation:
    """One annotator's answer on one task: ``answer`` None stores nothing (Unsure, skipped)."""

    id: int
    task_id: int
    project_id: int
    user_id: int
    revision: int
    answer: bool | None

    @property
    def idempotency_key(self) -> str:
        """The label service's key of this revision: a replay of it is a duplicate."""
        return f"labelstudio-{self.id}-{self.revision}"

    @classmethod
    def parse(
        cls, data: object, project_id: int | None = None, task_id: int | None = None
    ) -> Annotation:
        """The annotation in ``data``; ``project_id`` and ``task_id`` where the caller knows
        them (a task listing leaves the task out of its annotations). Refusal ``malformed`` /
        ``bad_answer`` otherwise."""
        if not isinstance(data, Mapping):
            raise Refusal("malformed", "annotation", "is not a JSON object")
        ident = _int(data, "id", "annotation")
        subject = f"annotation {ident}"
        project = data.get("project", project_id)
        if project_id is not None and project is not None and project != project_id:
            raise Refusal("malformed", subject, f"names project {project}, not {project_id}")
        result = data.get("result") or []
        if not isinstance(result, Sequence) or isinstance(result, str):
            raise Refusal("malformed", subject, "has no list 'result'")
        try:
            answer = answer_of(result, bool(data.get("was_cancelled", False)))
        except AnswerError as error:
            raise Refusal("bad_answer", subject, str(error)) from None
        return cls(
            id=ident,
            task_id=_int({"task": data.get("task", task_id)}, "task", subject),
            project_id=_int({"project": project}, "project", subject),
            user_id=_int(data, "completed_by", subject),
            revision=_revision(data.get("updated_at"), subject),
            answer=answer,
        )


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook delivery: an annotation created or updated, or annotations deleted."""

    action: str
    project_id: int
    changed: tuple[Annotation, ...] = ()
    deleted: tuple[int, ...] = ()

    @classmethod
    def parse(cls, body: object) -> WebhookEvent:
        """The event in a webhook's JSON body; Refusal ``malformed`` for anything else."""
        if not isinstance(body, Mapping):
            raise Refusal("malformed", "webhook", "the body is not a JSON object")
        action = body.get("action")
        if action not in ACTIONS:
            raise Refusal("malformed", "webhook", f"action {action!r} is not one of {ACTIONS}")
        project = body.get("project")
        project_id = _int(project if isinstance(project, Mapping) else {}, "id", "webhook project")
        if action == ACTION_DELETED:
            items = body.get("annotations")
            if not isinstance(items, list) or not items:
                raise Refusal("malformed", "webhook", "ANNOTATIONS_DELETED without 'annotations'")
            deleted = tuple(_int(item, "id", "deleted annotation") for item in items)
            return cls(action=action, project_id=project_id, deleted=deleted)
        annotation = Annotation.parse(body.get("annotation"), project_id)
        return cls(action=str(action), project_id=project_id, changed=(annotation,))


def _int(data: object, key: str, subject: str) -> int:
    value = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Refusal("malformed", subject, f"has no integer {key!r}")
    return value


def _revision(value: Any, subject: str) -> int:
    if not isinstance(value, str):
        raise Refusal("malformed", subject, "has no 'updated_at' time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Refusal("malformed", subject, f"'updated_at' {value!r} is not a time") from None
    if moment.tzinfo is None:
        raise Refusal("malformed", subject, f"'updated_at' {value!r} has no time zone")
    return (moment - _EPOCH) // timedelta(microseconds=1)
