"""LabelService over gRPC: converts messages to store calls and back; the store decides.

Exceptions from the store are mapped to status codes by the common error interceptor.
"""

from __future__ import annotations

import grpc

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.common.errors import FailedPreconditionError, UnavailableError
from services.common.shown import shown
from services.labels.backup import LabelBackup
from services.labels.metrics import LABEL_STORE_WRITE_ERRORS, LABELLED_PAIRS
from services.labels.records import (
    ImagePair,
    Intake,
    LabelSubmission,
    RoundInfo,
    RoundPair,
    StoredLabel,
    SubmitOutcome,
    Withdrawal,
)
from services.labels.store import LabelStore
from services.security.caller import current_caller
from services.security.delegation import delegated_identity
from services.security.principal import Role

MAX_LABELS_PER_CALL = 1000
MAX_PAGE_SIZE = 1000
_NO_OWN_ANSWERS = (Role.SERVICE, Role.LABELLING_SERVICE)
"""Callers whose your_labels is 0: a service answers nothing, a labelling service for others."""

_OUTCOMES = {
    SubmitOutcome.ACCEPTED: labels_pb2.SUBMIT_OUTCOME_ACCEPTED,
    SubmitOutcome.DUPLICATE: labels_pb2.SUBMIT_OUTCOME_DUPLICATE,
}
#: labels.proto names a round's intake ``RoundState`` (kept: the wire format does not change).
_INTAKE_CODES = {
    Intake.OPEN: labels_pb2.ROUND_STATE_OPEN,
    Intake.CLOSED: labels_pb2.ROUND_STATE_CLOSED,
}
_INTAKE_OF = {code: intake for intake, code in _INTAKE_CODES.items()}


def _pair_message(pair: RoundPair) -> labels_pb2.Pair:
    return labels_pb2.Pair(
        pair_id=pair.pair_id, image_a=pair.pair.image_a, image_b=pair.pair.image_b
    )


def _label_message(label: StoredLabel) -> labels_pb2.StoredLabel:
    return labels_pb2.StoredLabel(
        round=label.round,
        pair=_pair_message(label.pair),
        similar=label.similar,
        annotator_id=label.annotator_id,
        idempotency_key=label.idempotency_key,
        created_at_unix_ms=label.created_at_ms,
        sequence=label.sequence,
        withdrawn_at_unix_ms=label.withdrawn_at_ms or 0,
    )


def _round_message(info: RoundInfo) -> labels_pb2.RoundInfo:
    return labels_pb2.RoundInfo(
        round=info.round,
        state=_INTAKE_CODES[info.intake],
        opened_at_unix_ms=info.opened_at_ms,
        closed_at_unix_ms=info.closed_at_ms or 0,
        pairs=info.pairs,
    )


def _imported_round(message: labels_pb2.RoundInfo) -> RoundInfo:
    intake = _INTAKE_OF.get(message.state)
    if intake is None:
        raise ValueError("round.state must be ROUND_STATE_OPEN or ROUND_STATE_CLOSED")
    closed = message.closed_at_unix_ms or None
    return RoundInfo(message.round, intake, message.opened_at_unix_ms, closed, 0)


def _imported_label(position: int, message: labels_pb2.StoredLabel) -> StoredLabel:
    try:
        images = ImagePair.canonical(message.pair.image_a, message.pair.image_b)
    except ValueError as exc:
        raise ValueError(f"label {position}: {exc}") from exc
    return StoredLabel(
        sequence=0,
        round=message.round,
        pair=RoundPair(message.pair.pair_id, images),
        similar=message.similar,
        annotator_id=message.annotator_id,
        idempotency_key=message.idempotency_key,
        created_at_ms=message.created_at_unix_ms,
        withdrawn_at_ms=message.withdrawn_at_unix_ms or None,
    )


def _annotator(named: str, where: str, rule: str) -> str:
    """Who answers (or withdraws): the caller's identity; a request naming someone else is
    refused, ``rule`` saying why.

    A labelling service must name the person (``where``: annotator_id ... on a bad one): the
    answer is theirs inside its namespace, ``<service>:<person>`` (security/delegation.py).
    Only a server without access control (``--insecure``) takes the id from the request as it
    is (``anonymous`` when it is empty).
    """
    caller = current_caller()
    if caller is None:
        return named or "anonymous"
    if caller.role is Role.LABELLING_SERVICE:
        try:
            return delegated_identity(caller, named)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
    if named and named != caller.name:
        raise PermissionError(
            f"{where} names annotator {shown(named)} but you are {shown(caller.name)}: {rule} "
            "(leave annotator_id empty)"
        )
    return caller.name


def _submission(position: int, label: labels_pb2.Label) -> LabelSubmission:
    which = label.WhichOneof("pair")
    try:
        images = (
            ImagePair.canonical(label.images.image_a, label.images.image_b)
            if which == "images"
            else None
        )
    except ValueError as exc:
        raise ValueError(f"label {position}: {exc}") from exc
    return LabelSubmission(
        round=label.round,
        pair_id=label.pair_id if which == "pair_id" else None,
        images=images,
        similar=label.similar,
        annotator_id=_annotator(
            label.annotator_id,
            f"label {position}",
            "answers are stored under the caller's own identity",
        ),
        idempotency_key=label.idempotency_key,
    )


MAX_SEQUENCE = 2**63 - 1
"""The largest label sequence SQLite stores (a signed 64-bit INTEGER): the largest page token."""


def _after_sequence(page_token: str) -> int:
    """The sequence a page token continues after; refuses a token this server never issues."""
    if not page_token:
        return 0
    if (
        page_token.isascii()
        and page_token.isdigit()
        and len(page_token) <= len(str(MAX_SEQUENCE))
        and int(page_token) <= MAX_SEQUENCE
    ):
        return int(page_token)
    raise ValueError(
        f"page_token {shown(page_token)} is not one this server issued; send the "
        "next_page_token of the previous ListLabels reply, or none for the first page"
    )


class LabelServicer(labels_pb2_grpc.LabelServiceServicer):
    """The LabelService methods, backed by one :class:`LabelStore`."""

    def __init__(self, store: LabelStore, backup: LabelBackup | None = None) -> None:
        self._store = store
        self._backup = backup

    def OpenRound(
        self, request: labels_pb2.OpenRoundRequest, context: grpc.ServicerContext
    ) -> labels_pb2.OpenRoundResponse:
        pairs = []
        for i, pair in enumerate(request.pairs):
            try:
                pairs.append(ImagePair.canonical(pair.image_a, pair.image_b))
            except ValueError as exc:
                raise ValueError(f"pair {i}: {exc}") from exc
        stored, created = self._store.open_round(request.round, pairs)
        return labels_pb2.OpenRoundResponse(
            pairs=[_pair_message(p) for p in stored], created=created
        )

    def CloseRound(
        self, request: labels_pb2.CloseRoundRequest, context: grpc.ServicerContext
    ) -> labels_pb2.CloseRoundResponse:
        return labels_pb2.CloseRoundResponse(closed=self._store.close_round(request.round))

    def SubmitLabels(
        self, request: labels_pb2.SubmitLabelsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.SubmitLabelsResponse:
        if not 1 <= len(request.labels) <= MAX_LABELS_PER_CALL:
            raise ValueError(
                f"send 1 to {MAX_LABELS_PER_CALL} labels per call, got {len(request.labels)}"
            )
        submissions = [_submission(i, label) for i, label in enumerate(request.labels)]
        try:
            receipts = self._store.submit(submissions)
        except UnavailableError:
            LABEL_STORE_WRITE_ERRORS.inc()
            raise
        LABELLED_PAIRS.inc(sum(1 for receipt in receipts if receipt.first_for_pair))
        return labels_pb2.SubmitLabelsResponse(
            results=[
                labels_pb2.SubmitResult(
                    idempotency_key=receipt.label.idempotency_key,
                    outcome=_OUTCOMES[receipt.outcome],
                    pair=_pair_message(receipt.label.pair),
                )
                for receipt in receipts
            ]
        )

    def WithdrawLabel(
        self, request: labels_pb2.WithdrawLabelRequest, context: grpc.ServicerContext
    ) -> labels_pb2.WithdrawLabelResponse:
        annotator = _annotator(
            request.annotator_id, "the request", "you can withdraw only your own answers"
        )
        withdrawal = Withdrawal(request.round, request.idempotency_key, annotator)
        try:
            label, withdrawn = self._store.withdraw(withdrawal)
        except UnavailableError:
            LABEL_STORE_WRITE_ERRORS.inc()
            raise
        return labels_pb2.WithdrawLabelResponse(label=_label_message(label), withdrawn=withdrawn)

    def ListLabels(
        self, request: labels_pb2.ListLabelsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.ListLabelsResponse:
        if request.page_size > MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be at most {MAX_PAGE_SIZE}, got {request.page_size}")
        page_size = request.page_size or MAX_PAGE_SIZE
        labels = self._store.labels(
            request.round,
            _after_sequence(request.page_token),
            page_size,
            include_withdrawn=request.include_withdrawn,
        )
        token = str(labels[-1].sequence) if len(labels) == page_size else ""
        return labels_pb2.ListLabelsResponse(
            labels=[_label_message(label) for label in labels], next_page_token=token
        )

    def ListPairs(
        self, request: labels_pb2.ListPairsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.ListPairsResponse:
        pairs = self._store.pairs(request.round, only_unlabelled=request.only_unlabelled)
        return labels_pb2.ListPairsResponse(pairs=[_pair_message(p) for p in pairs])

    def GetRoundProgress(
        self, request: labels_pb2.GetRoundProgressRequest, context: grpc.ServicerContext
    ) -> labels_pb2.GetRoundProgressResponse:
        caller = current_caller()
        mine = None if caller is None or caller.role in _NO_OWN_ANSWERS else caller.name
        progress = self._store.progress(request.round, annotator_id=mine)
        return labels_pb2.GetRoundProgressResponse(
            round=progress.round,
            state=_INTAKE_CODES[progress.intake],
            pairs=progress.pairs,
            labelled_pairs=progress.labelled_pairs,
            labels=progress.labels,
            annotators=progress.annotators,
            disagreements=progress.disagreements,
            your_labels=progress.annotator_labels,
        )

    def GetResolvedLabels(
        self, request: labels_pb2.GetResolvedLabelsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.GetResolvedLabelsResponse:
        if bool(request.round) == bool(request.up_to_round):
            raise ValueError(
                "set either round (one round) or up_to_round (rounds 1 to it), not both or"
                f" neither; got round {request.round}, up_to_round {request.up_to_round}"
            )
        labels = (
            self._store.resolved_labels(request.round)
            if request.round
            else self._store.resolved_labels_up_to(request.up_to_round)
        )
        return labels_pb2.GetResolvedLabelsResponse(
            labels=[
                labels_pb2.ResolvedLabel(
                    pair=_pair_message(resolved.pair),
                    similar=resolved.similar,
                    votes_similar=resolved.votes_similar,
                    votes_dissimilar=resolved.votes_dissimilar,
                    round=resolved.round,
                )
                for resolved in labels
            ]
        )

    def ListRounds(
        self, request: labels_pb2.ListRoundsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.ListRoundsResponse:
        return labels_pb2.ListRoundsResponse(
            rounds=[_round_message(info) for info in self._store.rounds()]
        )

    def ImportLabels(
        self, request: labels_pb2.ImportLabelsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.ImportLabelsResponse:
        if len(request.labels) > MAX_LABELS_PER_CALL:
            raise ValueError(
                f"send at most {MAX_LABELS_PER_CALL} labels per call, got {len(request.labels)}"
            )
        pairs = []
        for i, pair in enumerate(request.pairs):
            try:
                pairs.append(ImagePair.canonical(pair.image_a, pair.image_b))
            except ValueError as exc:
                raise ValueError(f"pair {i}: {exc}") from exc
        labels = [_imported_label(i, label) for i, label in enumerate(request.labels)]
        receipt = self._store.import_labels(_imported_round(request.round), pairs, labels)
        return labels_pb2.ImportLabelsResponse(
            round_opened=receipt.round_opened,
            imported=receipt.imported,
            unchanged=receipt.unchanged,
            withdrawn=receipt.withdrawn,
        )

    def BackupLabels(
        self, request: labels_pb2.BackupLabelsRequest, context: grpc.ServicerContext
    ) -> labels_pb2.BackupLabelsResponse:
        if self._backup is None:
            raise FailedPreconditionError(
                "this label service has no backup folder; start it with --backup-dir "
                "(ANNEAL_LABELS_BACKUP_DIR)"
            )
        done = self._backup.run()
        return labels_pb2.BackupLabelsResponse(
            file_name=done.path.name,
            labels=done.labels,
            bytes=done.bytes,
            kept=done.kept,
            seconds=done.seconds,
        )
