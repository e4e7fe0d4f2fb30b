"""The bridge's calls to ANNEAL: rounds and pairs from the label service, answers to it, and a
round's settings (annotators per pair) from the coordinator.

Every answer goes under the Label Studio user it came from (``annotator_id``), which the label
service stores as ``<bridge token name>:<user>`` (docs/security.md, the ``labelling-service``
role). A refusal by the label service that retrying cannot change becomes a :class:`Refusal`;
anything transient (UNAVAILABLE, a deadline) is raised as it is, and the next sync repeats it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from annealpb.coordinator.v1 import coordinator_pb2, coordinator_pb2_grpc
from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.labelstudio.refusal import Reason, Refusal

TIMEOUT_S = 30.0
MAX_LABELS_PER_CALL = 500
"""Below the label service's 1,000 a call."""

_REFUSED: dict[grpc.StatusCode, Reason] = {
    grpc.StatusCode.FAILED_PRECONDITION: "round_closed",
    grpc.StatusCode.ALREADY_EXISTS: "label_refused",
    grpc.StatusCode.NOT_FOUND: "label_refused",
    grpc.StatusCode.INVALID_ARGUMENT: "label_refused",
}


@dataclass(frozen=True)
class RoundIntake:
    """A round as the label service has it: open for answers or closed, and its pair count."""

    round: int
    closed: bool
    pairs: int


@dataclass(frozen=True)
class PairAnswer:
    """One answer to store: which pair, whose, and the key of this revision."""

    round: int
    pair_id: int
    annotator: str
    similar: bool
    key: str


class LabelSink:
    """Stubs of the label service and the coordinator over the bridge's own channels."""

    def __init__(
        self, labels: grpc.Channel, coordinator: grpc.Channel, batch: int = MAX_LABELS_PER_CALL
    ) -> None:
        if not 1 <= batch <= MAX_LABELS_PER_CALL:
            raise ValueError(f"a batch is 1 to {MAX_LABELS_PER_CALL} labels, got {batch}")
        self.batch = batch
        self._labels = labels_pb2_grpc.LabelServiceStub(labels)
        self._coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(coordinator)

    def rounds(self) -> list[RoundIntake]:
        reply = self._labels.ListRounds(labels_pb2.ListRoundsRequest(), timeout=TIMEOUT_S)
        return [
            RoundIntake(round=r.round, closed=r.closed_at_unix_ms > 0, pairs=r.pairs)
            for r in reply.rounds
        ]

    def pairs(self, round_number: int) -> list[labels_pb2.Pair]:
        reply = self._labels.ListPairs(
            labels_pb2.ListPairsRequest(round=round_number), timeout=TIMEOUT_S
        )
        return list(reply.pairs)

    def annotators_per_pair(self, round_number: int) -> int:
        """The round's setting on the coordinator; 1 for a round it does not know."""
        reply = self._coordinator.ListRounds(coordinator_pb2.ListRoundsRequest(), timeout=TIMEOUT_S)
        for status in reply.rounds:
            if status.round == round_number:
                return max(1, int(status.annotators_per_pair))
        return 1

    def submit(self, answers: Sequence[PairAnswer]) -> dict[str, Refusal]:
        """Stores ``answers`` (a stored key again is a duplicate: fine), up to
        ``batch`` a call. When the label service refuses a call, its answers go one
        by one, so one refused answer does not hold back the rest; returns the refused ones'
        keys with their refusal."""
        refused: dict[str, Refusal] = {}
        for start in range(0, len(answers), self.batch):
            chunk = answers[start : start + self.batch]
            try:
                self._submit_call(chunk)
            except Refusal as refusal:
                if len(chunk) == 1:
                    refused[chunk[0].key] = refusal
                    continue
                for answer in chunk:
                    try:
                        self._submit_call([answer])
                    except Refusal as one:
                        refused[answer.key] = one
        return refused

    def withdraw(self, round_number: int, key: str, annotator: str) -> bool:
        """Takes back the answer stored under ``key``: True when it is withdrawn now, False
        when it was already or never stored (a key sent but lost before the label service had
        it)."""
        request = labels_pb2.WithdrawLabelRequest(
            round=round_number, idempotency_key=key, annotator_id=annotator
        )
        try:
            reply = self._labels.WithdrawLabel(request, timeout=TIMEOUT_S)
        except grpc.RpcError as error:
            if isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise _refusal_or_raise(error, f"withdrawing {key}") from None
        return bool(reply.withdrawn)

    def _submit_call(self, answers: Sequence[PairAnswer]) -> None:
        labels = [
            labels_pb2.Label(
                round=a.round,
                pair_id=a.pair_id,
                similar=a.similar,
                annotator_id=a.annotator,
                idempotency_key=a.key,
            )
            for a in answers
        ]
        try:
            self._labels.SubmitLabels(
                labels_pb2.SubmitLabelsRequest(labels=labels), timeout=TIMEOUT_S
            )
        except grpc.RpcError as error:
            subject = answers[0].key if len(answers) == 1 else f"{len(answers)} answers"
            raise _refusal_or_raise(error, subject) from None


def _refusal_or_raise(error: grpc.RpcError, subject: str) -> BaseException:
    code = error.code() if isinstance(error, grpc.Call) else None
    reason = _REFUSED.get(code) if code is not None else None
    if reason is None:
        return error
    details = error.details() if isinstance(error, grpc.Call) else ""
    name = code.name if code is not None else "UNKNOWN"
    return Refusal(reason, subject, f"the label service refused it ({name}: {details})")
