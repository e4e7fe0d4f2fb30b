"""Why the bridge refuses an event or an annotation: one error class, its reason a metric label."""

from __future__ import annotations

from typing import Literal, get_args

Reason = Literal[
    "wrong_secret",
    "malformed",
    "foreign_project",
    "not_our_task",
    "bad_answer",
    "round_closed",
    "label_refused",
]
REASONS: tuple[Reason, ...] = get_args(Reason)


class Refusal(Exception):
    """An event or annotation the bridge will not take, and will not retry.

    ``reason`` names the kind (``anneal_labelstudio_refused_total{reason}``); the message says
    what was wrong with which object and what happens next.
    """

    def __init__(self, reason: Reason, subject: str, detail: str) -> None:
        self.reason = reason
        self.subject = subject
        self.detail = detail
        super().__init__(f"{subject}: {detail}")
