"""The coordinator: rounds of active learning, driven by one worker thread; the servicer's API.

    SELECTING -> COLLECTING -> TRAINING -> EMBEDDING -> INDEXING -> SWAPPING -> DONE
    (or FAILED from any state; the previous index keeps serving, as only SWAPPING changes it)

The parts, one file each: what each state does (``round_states.py``, a table of handlers),
stepping a round and retrying transient failures (``round_machine.py``, ``step_backoff.py``),
the state in memory and on disk (``persisted_state.py``, ``state_store.py``, and
services/common/embedding_files.py for EMBEDDING's output), and the worker thread
(``round_worker.py``). This class wires them and answers the RPCs, ``IngestArchive`` (images
added to the archive) too. After a restart a round resumes in the state it was saved in: each
state's inputs are on disk, and a handler whose input is missing sends the round back to the
state that produces it (docs: services/coordinator/README.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from anneal.al.round_parameters import RoundParameters
from anneal.errors import ArchiveError
from anneal.models.extraction_progress import ExtractionProgress, ExtractionSnapshot
from anneal.training.config import check_mode
from services.common.embedding_files import EmbeddingFiles
from services.common.errors import FailedPreconditionError, NotFoundError
from services.coordinator.annotators_per_pair import (
    DEFAULT_ANNOTATORS_PER_PAIR,
    check_annotators_per_pair,
)
from services.coordinator.ingest_report import IngestReport
from services.coordinator.persisted_state import PersistedState
from services.coordinator.round_machine import RoundMachine
from services.coordinator.round_status import RoundState, RoundStatus, Serving
from services.coordinator.round_work import RoundWork
from services.coordinator.round_worker import RoundWorker
from services.coordinator.state_store import StateStore
from services.coordinator.step_backoff import StepBackoff

log = logging.getLogger(__name__)

EXTRACTION_PUSH_S = 0.5
"""WatchStatus pushes the extraction's progress at most this often."""


class Coordinator:
    """Round state, its persistence and the worker thread; the servicer calls the public methods."""

    def __init__(
        self,
        store: StateStore,
        prepare: Callable[[], RoundWork],
        poll_s: float = 0.5,
        reconcile_s: float = 2.0,
        backoff: StepBackoff | None = None,
        extraction: ExtractionProgress | None = None,
        embeddings: EmbeddingFiles | None = None,
    ) -> None:
        """``extraction``: the progress ``prepare`` reports its feature extraction to;
        ``embeddings``: where the index versions' embeddings go (default: ``embeddings`` next
        to the state file)."""
        self._extraction = extraction or ExtractionProgress()
        self._persisted = PersistedState(store)
        self._machine = RoundMachine(
            self._persisted,
            embeddings or EmbeddingFiles(store.path.parent / "embeddings"),
            backoff or StepBackoff(),
            poll_s,
        )
        self._worker = RoundWorker(self._persisted, self._machine, prepare, reconcile_s)
        self._changed = self._persisted.changed
        self._lock = self._persisted.lock
        self._ingesting = False
        """An ingest of added images runs (rounds wait for it; one ingest at a time)."""
        latest = self._persisted.state.latest
        if latest is not None and not latest.state.finished:
            log.info("resuming round %d in state %s", latest.round, latest.state.value)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the worker after its current step (state stays on disk for the next start)."""
        self._worker.stop(timeout_s)

    # -- RPC-facing methods ---------------------------------------------------------------------

    def start_round(
        self,
        strategy: str,
        budget: int,
        seed: int,
        close_when_answered: bool,
        timeout_s: float,
        mode: str = "head",
        annotators_per_pair: int = DEFAULT_ANNOTATORS_PER_PAIR,
    ) -> RoundStatus:
        """Open the next round, training in ``mode`` (anneal/training/config.py
        TRAINING_MODES) with ``annotators_per_pair`` answers wanted per pair (1..10, kept for a
        labelling service's overlap), and wait until its pairs are selected (or selection
        failed)."""
        RoundParameters(strategy, budget, seed)  # a ValueError names a bad strategy or budget
        check_mode(mode)
        check_annotators_per_pair(annotators_per_pair)
        with self._changed:
            not_ready = self._worker.not_ready
            if not_ready:
                raise FailedPreconditionError(
                    f"the coordinator is not ready: {not_ready}; retry shortly"
                )
            if self._ingesting:
                raise FailedPreconditionError(
                    "images added to the archive are being indexed; start the round once that"
                    " is done (seconds to minutes)"
                )
            work = self._worker.work
            if work is not None:  # refused now, not after the pairs are labelled
                work.check_mode(mode)
            latest = self._persisted.state.latest
            if latest is not None and not latest.state.finished:
                raise FailedPreconditionError(
                    f"round {latest.round} is still {latest.state.value}; close it or wait for it"
                    " to finish before starting another"
                )
            status = RoundStatus(
                round=latest.round + 1 if latest else 1,
                strategy=strategy,
                budget=budget,
                seed=seed,
                close_when_answered=close_when_answered,
                mode=mode,
                annotators_per_pair=annotators_per_pair,
            )
            self._persisted.state.rounds.append(status)
            self._persisted.save()
            deadline = time.monotonic() + timeout_s
            while status.state is RoundState.SELECTING and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            error = self._machine.take_start_error(status.round)
        if error is not None:
            raise error
        return status

    def ingest(self) -> IngestReport:
        """Index the images added to the archive folder, in place in the serving index version.

        Refused (FailedPreconditionError) before the first index serves, while a round is in
        progress (it embeds the archive as it was when the round started; ingest after it) and
        while another ingest runs. Rounds cannot start while it runs.
        """
        with self._changed:
            not_ready = self._worker.not_ready
            work = self._worker.work
            if not_ready or work is None:
                raise FailedPreconditionError(
                    f"the coordinator is not ready: {not_ready or 'preparing'}; retry shortly"
                )
            latest = self._persisted.state.latest
            if latest is not None and not latest.state.finished:
                raise FailedPreconditionError(
                    f"round {latest.round} is still {latest.state.value}; wait for it to finish"
                    " (or close it), then ingest the added images"
                )
            if self._ingesting:
                raise FailedPreconditionError("an ingest runs already; wait for it to finish")
            self._ingesting = True
            serving = self._persisted.state.serving
        try:
            return work.ingest(serving)
        except ArchiveError as exc:
            raise FailedPreconditionError(f"{exc}; the archive folder must stay usable") from exc
        finally:
            with self._changed:
                self._ingesting = False

    def close_round(self, round_number: int) -> RoundStatus:
        """End label collection of a COLLECTING round now."""
        status = self.status(round_number)
        if status is None:
            raise NotFoundError("there is no round yet; start one first")
        with self._changed:
            if status.state is not RoundState.COLLECTING:
                raise FailedPreconditionError(
                    f"round {status.round} is {status.state.value}, not collecting labels;"
                    " only a collecting round can be closed"
                )
            status.close_requested = True
            self._persisted.save()
        work = self._worker.work
        if work is not None:  # stop taking labels now; the worker moves on to training
            work.close_labels(status)
        return status

    def status(self, round_number: int = 0) -> RoundStatus | None:
        """A round (0: the latest; None before the first); NotFoundError for an unknown one."""
        with self._lock:
            if round_number == 0:
                return self._persisted.state.latest
            state = self._persisted.state
            found = state.find(round_number)
            if found is None:
                raise NotFoundError(
                    f"no round {round_number}; rounds so far: 1..{len(state.rounds)}"
                )
            return found

    def not_ready(self) -> str:
        """Why rounds and ingests cannot run yet (preparing, first index); empty once ready."""
        return self._worker.not_ready

    def serving(self) -> Serving:
        with self._lock:
            return self._persisted.state.serving

    def extraction(self) -> ExtractionSnapshot:
        """How far the archive's feature extraction is (not started: total 0)."""
        return self._extraction.snapshot()

    def rounds(self) -> list[RoundStatus]:
        with self._lock:
            return list(self._persisted.state.rounds)

    def watch(
        self, active: Callable[[], bool]
    ) -> Iterator[tuple[RoundStatus | None, Serving, ExtractionSnapshot]]:
        """The status now, after every change and, while the feature extraction runs, whenever
        its count of images done moved (at most every ``EXTRACTION_PUSH_S``), while ``active()``."""
        seen = -1
        extracted = -1
        pushed_at = -EXTRACTION_PUSH_S
        while active() and not self._worker.stopping.is_set():
            extraction = self._extraction.snapshot()
            now = time.monotonic()
            moved = extraction.done != extracted and now - pushed_at >= EXTRACTION_PUSH_S
            with self._changed:
                if self._persisted.generation == seen and not moved:
                    self._changed.wait(EXTRACTION_PUSH_S if extraction.running else 1.0)
                    continue
                seen = self._persisted.generation
                latest, serving = self._persisted.state.latest, self._persisted.state.serving
            extracted, pushed_at = extraction.done, now
            yield latest, serving, extraction
