"""Reading Label Studio's annotations and webhook bodies: answers, revisions, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from services.labelstudio.annotation import Annotation, WebhookEvent
from services.labelstudio.label_config import AnswerError, answer_of
from services.labelstudio.refusal import Refusal


def choice(*values: str) -> list[dict[str, Any]]:
    return [
        {
            "from_name": "answer",
            "to_name": "image_a",
            "type": "choices",
            "value": {"choices": list(values)},
        }
    ]


def annotation(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": 7,
        "task": 3,
        "project": 2,
        "completed_by": 5,
        "updated_at": "2026-12-02T18:32:31.973446Z",
        "result": choice("Similar"),
        "was_cancelled": False,
    }
    data.update(changes)
    return data


def test_answer_of_reads_similar_dissimilar_and_stores_nothing_for_unsure_or_skip() -> None:
    assert answer_of(choice("Similar"), False) is True
    assert answer_of(choice("Dissimilar"), False) is False
    assert answer_of(choice("Unsure"), False) is None
    assert answer_of(choice("Similar"), True) is None  # skipped
    assert answer_of([], False) is None


def test_answer_of_refuses_unknown_and_double_choices() -> None:
    with pytest.raises(AnswerError, match="unknown choice 'Maybe'"):
        answer_of(choice("Maybe"), False)
    with pytest.raises(AnswerError, match="2 answers"):
        answer_of(choice("Similar", "Dissimilar"), False)


def test_annotation_revision_is_updated_at_in_microseconds() -> None:
    parsed = Annotation.parse(annotation())
    assert parsed.revision == 1_796_236_351_973_446
    assert parsed.idempotency_key == "labelstudio-7-1796236351973446"
    later = Annotation.parse(annotation(updated_at="2026-12-02T18:32:31.973447+00:00"))
    assert later.revision == parsed.revision + 1


@pytest.mark.parametrize(
    ("changes", "reason", "words"),
    [
        ({"id": "7"}, "malformed", "no integer 'id'"),
        ({"task": None}, "malformed", "no integer 'task'"),
        ({"updated_at": "yesterday"}, "malformed", "is not a time"),
        ({"updated_at": "2026-12-02T18:32:31"}, "malformed", "no time zone"),
        ({"result": "Similar"}, "malformed", "no list 'result'"),
        ({"result": choice("Maybe")}, "bad_answer", "unknown choice"),
    ],
)
def test_annotation_parse_refuses_with_a_reason(
    changes: dict[str, Any], reason: str, words: str
) -> None:
    with pytest.raises(Refusal, match=words) as refused:
        Annotation.parse(annotation(**changes))
    assert refused.value.reason == reason


def test_webhook_event_of_each_action() -> None:
    created = WebhookEvent.parse(
        {"action": "ANNOTATION_CREATED", "annotation": annotation(), "project": {"id": 2}}
    )
    assert created.changed[0].answer is True and created.project_id == 2
    deleted = WebhookEvent.parse(
        {
            "action": "ANNOTATIONS_DELETED",
            "annotations": [{"id": 7}, {"id": 8}],
            "project": {"id": 2},
        }
    )
    assert deleted.deleted == (7, 8) and deleted.changed == ()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "not a JSON object"),
        ({"action": "PROJECT_CREATED", "project": {"id": 2}}, "is not one of"),
        ({"action": "ANNOTATION_CREATED", "annotation": annotation()}, "no integer 'id'"),
        ({"action": "ANNOTATION_CREATED", "project": {"id": 2}}, "not a JSON object"),
        (
            {"action": "ANNOTATIONS_DELETED", "annotations": [], "project": {"id": 2}},
            "without 'annotations'",
        ),
        (
            {
                "action": "ANNOTATION_UPDATED",
                "annotation": annotation(project=9),
                "project": {"id": 2},
            },
            "names project 9, not 2",
        ),
    ],
)
def test_webhook_event_refuses_malformed_bodies(body: object, words: str) -> None:
    with pytest.raises(Refusal, match=words) as refused:
        WebhookEvent.parse(body)
    assert refused.value.reason == "malformed"
