"""The bridge: a round's pairs out to Label Studio as tasks, annotations back as pair labels.

Out: a project per open round, a task per pair, image links renewed, the project closed when
the round closes here. In: webhooks and pulls hand annotations to its
:class:`~services.labelstudio.answer_intake.AnswerIntake` (``bridge.answers``), which pushes
each revision once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.labelstudio.annotation import Annotation
from services.labelstudio.answer_intake import AnswerIntake, count_refusals
from services.labelstudio.bridge_store import BridgeStore, ProjectRow, TaskRow
from services.labelstudio.image_urls import EXPIRES_KEY, ImageUrls
from services.labelstudio.label_sink import LabelSink, RoundIntake
from services.labelstudio.refusal import Refusal
from services.labelstudio.studio import Studio, StudioTask
from services.labelstudio.sync_report import SyncReport

_log = logging.getLogger(__name__)

PULL_MARGIN_S = 30.0
"""A pull between full ones lists the tasks changed since the latest change the pulls saw, less
this many seconds, until the margin has passed: a change saved just before a pull but committed
after it is listed too (taking an annotation twice changes nothing). See pull_cursor.py."""


@dataclass(frozen=True)
class WebhookTarget:
    """Where Label Studio should send its events, and the secret header it must send."""

    url: str
    secret: str


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
        full_pull_s: float = 600.0,
        pull_margin_s: float = PULL_MARGIN_S,
    ) -> None:
        self.studio = studio
        self.sink = sink
        self.store = store
        self.images = images
        self.webhook = webhook
        self.title_prefix = title_prefix
        self.full_pull_s = full_pull_s
        self.pull_margin = timedelta(seconds=pull_margin_s)
        self._clock = clock
        self._lock = threading.RLock()
        self.answers = AnswerIntake(studio, sink, store, self._lock)

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
                    report.add(self.pull(row, full=True))
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
        """A round closed here: the project's tasks leave Label Studio's labelling stream, all
        in one call, and its title says closed. Returns the tasks that were short of answers."""
        with self._lock:
            overlap = max(1, self.sink.annotators_per_pair(row.round))
            answered = Counter(
                a.pair_id for a in self.store.answers(row.project_id) if a.stored_key is not None
            )
            short = sum(
                1 for t in self.store.tasks(row.project_id) if answered[t.pair_id] < overlap
            )
            self.studio.close_project(row.project_id, self.title(row.round, closed=True))
            self.store.save_project(replace(row, closed=True))
            _log.info("round %d closed: %d tasks short of answers taken out", row.round, short)
            return short

    # -- annotations ----------------------------------------------------------------------------

    def pull(self, row: ProjectRow, full: bool = False) -> SyncReport:
        """The project's annotations, taken as if each came by webhook. Lists every task when
        ``full`` or when the last full pull is ``full_pull_s`` old, else only the tasks changed
        since the pulls' cursor (pull_cursor.py; a deletion changes its task too). An
        annotation the bridge pushed that a listed task no longer has is withdrawn."""
        now = self._clock()
        cursor = self.store.pull_cursor(row.project_id)
        after = cursor.listing_after(self.pull_margin)
        if full or after is None or now - cursor.full_pull_unix >= self.full_pull_s:
            full, after = True, None
        newest: datetime | None = None
        annotations: list[Annotation] = []
        listed: set[int] = set()
        pairs: set[int] = set()
        refused: list[Refusal] = []
        tasks = 0
        for task in self.studio.tasks(row.project_id, with_annotations=True, updated_after=after):
            tasks += 1
            newest = _later(newest, task.updated_at)
            pair = task.pair()
            if pair is not None:
                pairs.add(pair[1])
            for data in task.annotations:
                ident = data.get("id")
                if isinstance(ident, int):
                    listed.add(ident)
                try:
                    annotations.append(Annotation.parse(data, row.project_id, task.id))
                except Refusal as refusal:
                    refused.append(refusal)
        count_refusals(refused, "pull")
        report = self.answers.take(annotations, source="pull")
        report.refused[:0] = refused
        report.listed = tasks
        gone = [
            a.annotation_id
            for a in self.store.answers(row.project_id)
            if not a.deleted and a.annotation_id not in listed and (full or a.pair_id in pairs)
        ]
        if gone:
            report.add(self.answers.forget(gone, row.project_id, source="pull"))
        self.store.save_pull_cursor(cursor.advanced(newest, now, self.pull_margin, full))
        return report

    def project_of(self, project_id: int) -> ProjectRow | None:
        return self.store.project_by_id(project_id)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)
