"""Annotations in: each Label Studio annotation revision to the label service once.

Every path in (a webhook, a periodic pull) goes through :meth:`AnswerIntake.take` and
:meth:`AnswerIntake.forget`, one at a time under the bridge's lock. For each annotation the
intake compares the revision with what it last handled
(:class:`~services.labelstudio.bridge_store.AnswerRow`): an older or equal revision changes
nothing (a replayed webhook), a new one stores its answer under the key of that revision after
withdrawing the earlier answer if the answer changed (the label service's rule: one answer per
annotator and pair; to change it, withdraw and answer anew). A key is written down as pending
before it is sent, so a crash between the two leaves nothing the next pass cannot find and
withdraw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.labelstudio.annotation import Annotation
from services.labelstudio.bridge_store import AnswerRow, BridgeStore, TaskRow
from services.labelstudio.label_sink import LabelSink, PairAnswer
from services.labelstudio.metrics import LABELS_PUSHED, REFUSED
from services.labelstudio.refusal import Refusal
from services.labelstudio.studio import Studio
from services.labelstudio.sync_report import SyncReport

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Plan:
    annotation: Annotation
    task: TaskRow
    annotator: str
    before: AnswerRow | None
    withdraw: tuple[str, ...]
    submit: PairAnswer | None


class AnswerIntake:
    """Annotations of Label Studio (``studio``) as pair labels of the label service (``sink``),
    with the cursor of what was pushed in ``store``."""

    def __init__(
        self, studio: Studio, sink: LabelSink, store: BridgeStore, lock: threading.RLock
    ) -> None:
        self.studio = studio
        self.sink = sink
        self.store = store
        self._lock = lock

    def take(self, annotations: Sequence[Annotation], source: str) -> SyncReport:
        """Stores the answers of these annotations' new revisions (see the module docstring)."""
        report = SyncReport()
        with self._lock:
            plans: list[_Plan] = []
            for annotation in annotations:
                try:
                    plan = self._plan(annotation)
                except Refusal as refusal:
                    report.refused.append(refusal)
                    continue
                if plan is not None:
                    plans.append(plan)
            pending = [
                _pending(p.before, p.annotation, p.task, p.annotator, p.submit.key)
                for p in plans
                if p.submit is not None
            ]
            self.store.save_answers(pending)
            rows, failed = self._withdraw_before(plans, report)
            to_submit = [p.submit for p in plans if p.submit is not None and p not in failed]
            refusals = self.sink.submit(to_submit)
            for plan in plans:
                if plan in failed:
                    continue
                rows.append(self._after(plan, refusals, report))
            self.store.save_answers(rows)
        count_refusals(report.refused, source)
        LABELS_PUSHED.labels("stored").inc(report.stored)
        LABELS_PUSHED.labels("withdrawn").inc(report.withdrawn)
        return report

    def forget(self, annotation_ids: Sequence[int], project_id: int, source: str) -> SyncReport:
        """Withdraws what these deleted annotations stored; unknown ids change nothing."""
        report = SyncReport()
        with self._lock:
            rows = []
            for ident in annotation_ids:
                before = self.store.answer(ident)
                if before is None or before.deleted or before.project_id != project_id:
                    continue
                keys = tuple(k for k in (before.stored_key, before.pending_key) if k is not None)
                try:
                    report.withdrawn += self._withdraw(before.round, keys, before.annotator)
                except Refusal as refusal:
                    report.refused.append(refusal)
                    rows.append(replace(before, deleted=True, refused=refusal.reason))
                    continue
                rows.append(
                    replace(
                        before, deleted=True, stored_key=None, stored_answer=None, pending_key=None
                    )
                )
            self.store.save_answers(rows)
        count_refusals(report.refused, source)
        LABELS_PUSHED.labels("withdrawn").inc(report.withdrawn)
        return report

    def _plan(self, annotation: Annotation) -> _Plan | None:
        task = self._task(annotation)
        before = self.store.answer(annotation.id)
        # A pending row keeps the revision handled before it, so a crash after writing it
        # leaves the annotation's revision newer and the pass is made again.
        if before is not None and (before.deleted or before.revision >= annotation.revision):
            return None
        annotator = self.studio.user_email(annotation.user_id)
        withdraw: list[str] = []
        keep: str | None = None
        if before is not None:
            if before.stored_key is not None:
                if before.stored_answer == annotation.answer:
                    keep = before.stored_key
                else:
                    withdraw.append(before.stored_key)
            if before.pending_key is not None and before.pending_key not in (
                keep,
                annotation.idempotency_key,
            ):
                withdraw.append(before.pending_key)
        submit = None
        if annotation.answer is not None and keep is None:
            submit = PairAnswer(
                round=task.round,
                pair_id=task.pair_id,
                annotator=annotator,
                similar=annotation.answer,
                key=annotation.idempotency_key,
            )
        return _Plan(annotation, task, annotator, before, tuple(withdraw), submit)

    def _task(self, annotation: Annotation) -> TaskRow:
        project = self.store.project_by_id(annotation.project_id)
        subject = f"annotation {annotation.id}"
        if project is None:
            raise Refusal(
                "foreign_project",
                subject,
                f"project {annotation.project_id} is not a round's project of this bridge",
            )
        task = self.store.task(annotation.task_id)
        if task is None:
            found = self.studio.task(annotation.task_id)
            pair = found.pair()
            if pair is None or pair[0] != project.round:
                raise Refusal(
                    "not_our_task",
                    subject,
                    f"task {annotation.task_id} carries no pair id of round {project.round}",
                )
            task = TaskRow(found.id, project.project_id, project.round, pair[1], 0)
            self.store.save_tasks([task])
        if task.project_id != annotation.project_id:
            raise Refusal(
                "not_our_task",
                subject,
                f"task {task.task_id} belongs to project {task.project_id}, "
                f"not {annotation.project_id}",
            )
        return task

    def _withdraw_before(
        self, plans: Sequence[_Plan], report: SyncReport
    ) -> tuple[list[AnswerRow], list[_Plan]]:
        rows: list[AnswerRow] = []
        failed: list[_Plan] = []
        for plan in plans:
            try:
                report.withdrawn += self._withdraw(plan.task.round, plan.withdraw, plan.annotator)
            except Refusal as refusal:
                report.refused.append(refusal)
                failed.append(plan)
                before = plan.before
                assert before is not None  # only an earlier answer is withdrawn
                rows.append(
                    replace(
                        before,
                        revision=plan.annotation.revision,
                        pending_key=None,
                        refused=refusal.reason,
                    )
                )
        return rows, failed

    def _withdraw(self, round_number: int, keys: Sequence[str], annotator: str) -> int:
        return sum(int(self.sink.withdraw(round_number, key, annotator)) for key in keys)

    def _after(self, plan: _Plan, refusals: dict[str, Refusal], report: SyncReport) -> AnswerRow:
        annotation, submit = plan.annotation, plan.submit
        stored_key: str | None = None
        refused: str | None = None
        if submit is not None:
            refusal = refusals.get(submit.key)
            if refusal is None:
                stored_key = submit.key
                report.stored += 1
            else:
                report.refused.append(refusal)
                refused = refusal.reason
        elif plan.before is not None and plan.before.stored_key not in plan.withdraw:
            stored_key = plan.before.stored_key
        return AnswerRow(
            annotation_id=annotation.id,
            project_id=annotation.project_id,
            round=plan.task.round,
            pair_id=plan.task.pair_id,
            annotator=plan.annotator,
            revision=annotation.revision,
            stored_key=stored_key,
            stored_answer=annotation.answer if stored_key is not None else None,
            deleted=False,
            refused=refused,
            pending_key=None,
        )


def _pending(
    before: AnswerRow | None, annotation: Annotation, task: TaskRow, annotator: str, key: str
) -> AnswerRow:
    if before is not None:
        return replace(before, pending_key=key)
    return AnswerRow(
        annotation_id=annotation.id,
        project_id=annotation.project_id,
        round=task.round,
        pair_id=task.pair_id,
        annotator=annotator,
        revision=0,
        stored_key=None,
        stored_answer=None,
        deleted=False,
        refused=None,
        pending_key=key,
    )


def count_refusals(refusals: Sequence[Refusal], source: str) -> None:
    for refusal in refusals:
        REFUSED.labels(refusal.reason).inc()
        _log.warning("refused (%s, %s): %s", source, refusal.reason, refusal)
