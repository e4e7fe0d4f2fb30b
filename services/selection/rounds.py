"""Opening rounds: choose the pairs once, store them, register them with the label service.

A round is chosen over the embeddings of one index version, with the named strategy and a
generator seeded from (seed, round), so the same arguments give the same pairs. The record is
written to disk before the label service hears of it; a retry of the same call finds the record
and registers it again (the label service's OpenRound is idempotent), so a crash between the
two steps loses nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from anneal.al.labelled_pairs import LabelledPairs
from anneal.al.strategies import make_selector
from services.common.errors import AlreadyExistsError, NotFoundError
from services.common.shown import shown
from services.selection.label_client import LabelClient
from services.selection.round_record import RoundArguments, RoundRecord, SelectedPair
from services.selection.round_store import RoundStore
from services.selection.vector_source import VectorSource


@dataclass(frozen=True)
class PendingPair:
    """A pair of a round that has no label yet, with its position in the round."""

    pair_id: int
    pair: SelectedPair


def check_arguments(arguments: RoundArguments) -> None:
    """ValueError naming the first argument that cannot work (the strategy and budget were
    checked when the :class:`RoundParameters` were made)."""
    if arguments.round < 1:
        raise ValueError(f"rounds are numbered from 1, got {arguments.round}")
    if arguments.index_version < 0:
        raise ValueError(
            f"index_version must be 0 (serving) or positive, got {arguments.index_version}"
        )


class SelectionRounds:
    """The selection service's logic; one round is opened at a time."""

    def __init__(
        self,
        store: RoundStore,
        vectors: VectorSource,
        labels: LabelClient,
        diversity_multiple: int = 5,
    ) -> None:
        self._store = store
        self._vectors = vectors
        self._labels = labels
        self._diversity_multiple = diversity_multiple
        self._lock = threading.Lock()

    def start(self, arguments: RoundArguments, timeout_s: float | None) -> tuple[RoundRecord, bool]:
        """The round's record and whether it was created now (False: it existed already)."""
        check_arguments(arguments)
        with self._lock:
            existing = self._store.get(arguments.round)
            if existing is not None:
                self._check_same(existing, arguments)
                self._labels.open_round(arguments.round, existing.pairs, timeout_s)
                return existing, False
            record = self._select(arguments, timeout_s)
            self._store.put(record)
            self._labels.open_round(arguments.round, record.pairs, timeout_s)
            return record, True

    @staticmethod
    def _check_same(existing: RoundRecord, asked: RoundArguments) -> None:
        stored, p = existing.arguments, existing.arguments.parameters
        same = stored.parameters == asked.parameters and asked.index_version in (
            0,
            stored.index_version,
        )
        if not same:
            raise AlreadyExistsError(
                f"round {stored.round} was opened already with strategy {shown(p.strategy)},"
                f" budget {p.budget}, seed {p.seed}, index version"
                f" {stored.index_version}; open the next round instead"
            )

    def _select(self, arguments: RoundArguments, timeout_s: float | None) -> RoundRecord:
        started = time.perf_counter()
        vectors = self._vectors.vectors(arguments.index_version, timeout_s)
        earlier = [r for r in self._store.rounds() if r < arguments.round]
        labelled = LabelledPairs.from_answers(
            self._labels.resolved(earlier, timeout_s), vectors.rows()
        )
        parameters = arguments.parameters
        selector = make_selector(parameters.strategy, diversity_multiple=self._diversity_multiple)
        rng = parameters.generator(arguments.round)
        chosen = selector.select(
            vectors.matrix, labelled.pairs, labelled.similar, parameters.budget, rng
        )
        pairs = tuple(
            SelectedPair(vectors.ids[int(a)], vectors.ids[int(b)], float(score))
            for (a, b), score in zip(chosen.pairs, chosen.scores, strict=True)
        )
        resolved = RoundArguments(arguments.round, parameters, vectors.version)
        return RoundRecord(resolved, pairs, int(time.time() * 1000), time.perf_counter() - started)

    def get(self, round_number: int) -> RoundRecord:
        """The stored round; NotFoundError if it was never opened."""
        record = self._store.get(round_number)
        if record is None:
            raise NotFoundError(
                f"round {round_number} was never opened; open it with StartRound first"
            )
        return record

    def labelled_pairs(self, round_number: int, timeout_s: float | None) -> int:
        """Pairs of the round with at least one label (asked from the label service)."""
        self.get(round_number)
        return self._labels.labelled_pairs(round_number, timeout_s)

    def pending(self, round_number: int, limit: int, timeout_s: float | None) -> list[PendingPair]:
        """The round's pairs without a label, in order; at most ``limit`` (0: all)."""
        record = self.get(round_number)
        unlabelled = self._labels.unlabelled_pair_ids(round_number, timeout_s)
        pending = [PendingPair(i, pair) for i, pair in enumerate(record.pairs) if i in unlabelled]
        return pending[:limit] if limit else pending
