"""The values the label store takes and returns: pairs, labels, withdrawals, receipts, progress."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from services.common.shown import shown
from services.security.delegation import MAX_IDENTITY_LENGTH

MAX_ID_LENGTH = 1024
MAX_KEY_LENGTH = 200
MAX_ANNOTATOR_LENGTH = MAX_IDENTITY_LENGTH
"""A stored annotator id: a token's name, or a labelling service's ``<name>:<person>``."""


def check_round(round_number: int) -> None:
    """Rounds are numbered from 1 (0 is what an unset proto field reads as)."""
    if round_number < 1:
        raise ValueError(f"round must be >= 1, got {round_number}")


def _check_text(what: str, value: str, limit: int) -> None:
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value)} characters long; at most {limit} are allowed")


@dataclass(frozen=True, order=True)
class ImagePair:
    """Two distinct archive images, canonical: ``image_a < image_b``."""

    image_a: str
    image_b: str

    @classmethod
    def canonical(cls, first: str, second: str) -> ImagePair:
        """The pair of two image ids given in either order; ValueError for bad ids."""
        _check_text("image id", first, MAX_ID_LENGTH)
        _check_text("image id", second, MAX_ID_LENGTH)
        if first == second:
            raise ValueError(f"a pair needs two different images, got {shown(first)} twice")
        return cls(min(first, second), max(first, second))


@dataclass(frozen=True)
class RoundPair:
    """A pair of a round with its id (its 0-based position in the round's list)."""

    pair_id: int
    pair: ImagePair


@dataclass(frozen=True)
class LabelSubmission:
    """One answer as submitted: the pair by id (``pair_id``) or by images (``images``)."""

    round: int
    pair_id: int | None
    images: ImagePair | None
    similar: bool
    annotator_id: str
    idempotency_key: str

    def validate(self) -> None:
        """ValueError when the label is malformed (says which part)."""
        check_round(self.round)
        if (self.pair_id is None) == (self.images is None):
            raise ValueError("name the pair by pair_id or by its two images (exactly one)")
        _check_text("annotator_id", self.annotator_id, MAX_ANNOTATOR_LENGTH)
        _check_text("idempotency_key", self.idempotency_key, MAX_KEY_LENGTH)


@dataclass(frozen=True)
class Withdrawal:
    """An annotator taking back its own answer, named by the answer's idempotency key."""

    round: int
    idempotency_key: str
    annotator_id: str

    def validate(self) -> None:
        """ValueError when the request is malformed (says which part)."""
        check_round(self.round)
        _check_text("idempotency_key", self.idempotency_key, MAX_KEY_LENGTH)
        _check_text("annotator_id", self.annotator_id, MAX_ANNOTATOR_LENGTH)


@dataclass(frozen=True)
class StoredLabel:
    """A label as stored; ``sequence`` increases in store order.

    ``withdrawn_at_ms`` is set once the annotator withdrew it: it is kept but no longer counts.
    """

    sequence: int
    round: int
    pair: RoundPair
    similar: bool
    annotator_id: str
    idempotency_key: str
    created_at_ms: int
    withdrawn_at_ms: int | None = None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at_ms is not None


class SubmitOutcome(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class SubmitReceipt:
    """What happened to one submitted label.

    ``first_for_pair`` when the pair never had a label before (a withdrawn one counts: a pair
    answered, withdrawn and answered again had its first label the first time).
    """

    outcome: SubmitOutcome
    label: StoredLabel
    first_for_pair: bool


class Intake(enum.Enum):
    """Whether a round still takes answers: OPEN until it is closed, then CLOSED for good.

    Not the coordinator's round state machine (services/coordinator/round_status.py): a round
    the coordinator is training is CLOSED here. The values are what the store's ``rounds.state``
    column and the label export's ``round_state`` column hold (and what files of earlier
    versions hold: they were never renamed).
    """

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class RoundProgress:
    """Counts of the round's non-withdrawn labels; ``annotator_labels``: one annotator's."""

    round: int
    intake: Intake
    pairs: int
    labelled_pairs: int
    labels: int
    annotators: int
    disagreements: int
    annotator_labels: int = 0


@dataclass(frozen=True)
class ResolvedLabel:
    """The one answer a pair of round ``round`` resolves to, with the votes it came from."""

    pair: RoundPair
    similar: bool
    votes_similar: int
    votes_dissimilar: int
    round: int


@dataclass(frozen=True)
class RoundInfo:
    """A round as stored: whether it takes answers, when it was opened and closed, and how many
    pairs it has."""

    round: int
    intake: Intake
    opened_at_ms: int
    closed_at_ms: int | None
    pairs: int


@dataclass(frozen=True)
class ImportReceipt:
    """What an import of one batch of a round's labels did."""

    round_opened: bool
    imported: int
    unchanged: int
    withdrawn: int


def check_stored(position: int, label: StoredLabel) -> None:
    """ValueError when a label to import is malformed (says which and what)."""
    try:
        check_round(label.round)
        _check_text("annotator_id", label.annotator_id, MAX_ANNOTATOR_LENGTH)
        _check_text("idempotency_key", label.idempotency_key, MAX_KEY_LENGTH)
    except ValueError as exc:
        raise ValueError(f"label {position}: {exc}") from exc
