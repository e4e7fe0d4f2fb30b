"""The bridge: a round's pairs out to Label Studio as tasks, annotations back as pair labels.

Every path in (a webhook, a periodic pull) goes through :meth:`Bridge.take` and
:meth:`Bridge.forget`, one at a time under one lock. For each annotation the bridge compares the
revision with what it last handled (:class:`~services.labelstudio.bridge_store.AnswerRow`): an
older or equal revision changes nothing (a replayed webhook), a new one stores its answer under
the key of that revision after withdrawing the earlier answer if the answer changed (the label
service's rule: one answer per annotator and pair; to change it, withdraw and answer anew). A key
is written down as pending before it is sent, so a crash between the two leaves nothing the next
pass cannot find and withdraw.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from services.labelstudio.annotation import Annotation
from services.labelstudio.bridge_store import AnswerRow, BridgeStore, ProjectRow, TaskRow
from services.labelstudio.image_urls import EXPIRES_KEY, ImageUrls
from services.labelstudio.label_sink import LabelSink, PairAnswer, RoundIntake
from services.labelstudio.metrics import LABELS_PUSHED, REFUSED
from services.labelstudio.refusal import Refusal
from services.labelstudio.studio import Studio, StudioTask

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookTarget:
    """Where Label Studio should send its events, and the secret header it must send."""

    url: str
    secret: str


@dataclass
class SyncReport:
    """What one pass did: tasks imported, answers stored and withdrawn, refusals."""

    imported: int = 0
    stored: int = 0
    withdrawn: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def add(self, other: SyncReport) -> None:
        self.imported += other.imported
        self.stored += other.stored
        self.withdrawn += other.withdrawn
        self.refused.extend(other.refused)


@dataclass(frozen=True)
class _Plan:
    annotation: Annotation
    task: TaskRow
    annotator: str
    before: AnswerRow | None
    withdraw: tuple[str, ...]
    submit: PairAnswer | None


class Bridge:
    """Label Studio on one side (``studio``), the label service on the other (``sink``)."""

    def __init__(
        self,
        studio: Studio,
        sink: LabelSink,
        store: BridgeStore,
        images: ImageUrls,
        webhook: WebhookTarget | None,
        title_prefix: str = "ANNEAL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.studio = studio
        self.sink = sink
        self.store = store
        self.images = images
        self.webhook = webhook
        self.title_prefix = title_prefix
        self._clock = clock
        self._lock = threading.RLock()

    # -- rounds ---------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """One pass: open projects for open rounds, pull their annotations, renew expiring
        image links, and finish the projects of rounds closed on our side."""
        report = SyncReport()
        for intake in self.sink.rounds():
            row = self.store.project(intake.round)
            if row is not None and row.closed:
                continue
            if intake.closed:
                if row is not None:
                    report.add(self.pull(row))
                    self.finish(row)
                continue
            if row is None:
                row, imported = self.open_round(intake)
                report.imported += imported
            report.add(self.pull(row))
            self.renew_links(row)
        return report

    def title(self, round_number: int, closed: bool = False) -> str:
        suffix = " (closed)" if closed else ""
        return f"{self.title_prefix} round {round_number}{suffix}"

    def open_round(self, intake: RoundIntake) -> tuple[ProjectRow, int]:
        """The round's project (found again or created), its webhook, and a task per pair not
        yet in it; returns the project and how many tasks were imported now."""
        with self._lock:
            overlap = self.sink.annotators_per_pair(intake.round)
            row = self.store.project(intake.round)
            title = self.title(intake.round)
            project_id = row.project_id if row else self.studio.project_titled(title)
            if project_id is None:
                project_id = self.studio.create_project(
                    title,
                    f"Pairs of ANNEAL round {intake.round}: are the two scenes similar?",
                    overlap,
                )
            else:
                self.studio.set_project(project_id, title, overlap)
            webhook_id = None
            if self.webhook is not None:
                webhook_id = self.studio.ensure_webhook(
                    project_id, self.webhook.url, self.webhook.secret
                )
            row = ProjectRow(intake.round, project_id, webhook_id, closed=False)
            self.store.save_project(row)
            imported = self._import_missing(row)
            _log.info(
                "round %d is Label Studio project %d (%d tasks imported, %d annotators a pair)",
                intake.round,
                project_id,
                imported,
                overlap,
            )
            return row, imported

    def _import_missing(self, row: ProjectRow) -> int:
        present = self._save_tasks(row, self.studio.tasks(row.project_id, with_annotations=False))
        now = self._clock()
        missing = [
            self.images.task_data(row.round, p.pair_id, p.image_a, p.image_b, now)
            for p in self.sink.pairs(row.round)
            if p.pair_id not in present
        ]
        if missing:
            self.studio.import_tasks(row.project_id, missing)
            self._save_tasks(row, self.studio.tasks(row.project_id, with_annotations=False))
        return len(missing)

    def _save_tasks(self, row: ProjectRow, tasks: Iterable[StudioTask]) -> set[int]:
        rows = []
        for task in tasks:
            pair = task.pair()
            if pair is None or pair[0] != row.round:
                continue
            expires = task.data.get(EXPIRES_KEY, 0)
            rows.append(
                TaskRow(task.id, row.project_id, row.round, pair[1], int(expires) if expires else 0)
            )
        self.store.save_tasks(rows)
        return {r.pair_id for r in rows}

    def renew_links(self, row: ProjectRow) -> int:
        """New links for tasks whose links run out within half their lifetime."""
        now = self._clock()
        renewed = []
        pairs = None
        for task in self.store.tasks(row.project_id):
            if not task.links_expire_unix:
                continue
            lifetime = task.links_expire_unix - now
            if lifetime > self.images.renew_within_s:
                continue
            if pairs is None:
                pairs = {p.pair_id: p for p in self.sink.pairs(row.round)}
            pair = pairs.get(task.pair_id)
            if pair is None:
                continue
            data = self.images.task_data(row.round, pair.pair_id, pair.image_a, pair.image_b, now)
            self.studio.update_task_data(task.task_id, data)
            renewed.append(replace(task, links_expire_unix=int(data[EXPIRES_KEY])))
        self.store.save_tasks(renewed)
        return len(renewed)

    def finish(self, row: ProjectRow) -> int:
        """A round closed here: its tasks still short of answers leave Label Studio's labelling
        stream, and the project's title says closed. Returns the tasks taken out."""
        with self._lock:
            overlap = max(1, self.sink.annotators_per_pair(row.round))
            finished = 0
            for task in self.studio.tasks(row.project_id, with_annotations=True):
                if task.pair() is None:
                    continue
                answered = sum(1 for a in task.annotations if not a.get("was_cancelled"))
                if answered < overlap:
                    self.studio.mark_finished(task.id)
                    finished += 1
            self.studio.set_project(row.project_id, self.title(row.round, closed=True), overlap)
            self.store.save_project(replace(row, closed=True))
            _log.info("round %d closed: %d unfinished tasks taken out", row.round, finished)
            return finished

    # -- annotations ----------------------------------------------------------------------------

    def pull(self, row: ProjectRow) -> SyncReport:
        """Every annotation of the project, taken as if each came by webhook; an annotation
        the bridge pushed that Label Studio no longer lists is withdrawn."""
        annotations: list[Annotation] = []
        listed: set[int] = set()
        refused: list[Refusal] = []
        for task in self.studio.tasks(row.project_id, with_annotations=True):
            for data in task.annotations:
                ident = data.get("id")
                if isinstance(ident, int):
                    listed.add(ident)
                try:
                    annotations.append(Annotation.parse(data, row.project_id, task.id))
                except Refusal as refusal:
                    refused.append(refusal)
        _count(refused, "pull")
        report = self.take(annotations, source="pull")
        report.refused[:0] = refused
        gone = [
            a.annotation_id
            for a in self.store.answers(row.project_id)
            if not a.deleted and a.annotation_id not in listed
        ]
        if gone:
            report.add(self.forget(gone, row.project_id, source="pull"))
        return report

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
        _count(report.refused, source)
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
        _count(report.refused, source)
        LABELS_PUSHED.labels("withdrawn").inc(report.withdrawn)
        return report

    def project_of(self, project_id: int) -> ProjectRow | None:
        return self.store.project_by_id(project_id)

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


def _count(refusals: Sequence[Refusal], source: str) -> None:
    for refusal in refusals:
        REFUSED.labels(refusal.reason).inc()
        _log.warning("refused (%s, %s): %s", source, refusal.reason, refusal)
