"""What each round state does: one handler per state, and the table from state to handler.

    SELECTING -> COLLECTING -> TRAINING -> EMBEDDING -> INDEXING -> SWAPPING -> DONE

A handler does its state's work through :class:`RoundWork`, records what it produced in the
round's :class:`RoundStatus` (pairs, label count, model version and checkpoint, metrics, index
version) and returns an :class:`Outcome`: the next state, or stay and poll again. Every input a
state needs is on disk (the state file, the checkpoint, the index version's embeddings:
services/common/embedding_files.py), so a handler runs the same whether the coordinator just
moved the round here or restarted in this state: when an input is missing (lost while the
coordinator was down, or an unswapped build lost by a restart of the search service) the handler
sends the round back to the state that produces it. There is no other restart path. Failures
are raised; :class:`~services.coordinator.round_machine.RoundMachine` retries the transient ones
and fails the round on the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from services.common.embedding_files import EmbeddingFiles, EmbeddingsAbsentError
from services.coordinator.round_status import RoundState, RoundStatus, Serving, now_ms
from services.coordinator.round_work import RoundWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a handler decided."""

    next: RoundState | None = None
    """The state to move to; None: stay in this one and poll again after a pause."""
    changed: bool = False
    """Staying, but the status changed (a new label count): save it."""
    redo: bool = False
    """``next`` is an earlier state, to produce again an input that is missing (no stage time)."""
    serving: Serving | None = None
    """What serves queries from now on (set by SWAPPING)."""


@dataclass(frozen=True)
class RoundContext:
    """What a handler may use besides the round itself."""

    work: RoundWork
    serving: Serving
    label_rounds: list[int]
    """The rounds whose labels train this round's model: every round so far that had pairs."""
    embeddings: EmbeddingFiles
    """Where EMBEDDING writes the index version's embeddings, read by INDEXING and selection."""


Handler = Callable[[RoundStatus, RoundContext], Outcome]


def select(status: RoundStatus, context: RoundContext) -> Outcome:
    """Open the round's pairs on the selection service (idempotent, so a restart repeats it)."""
    status.pairs = context.work.select(status, context.serving.index_version)
    return Outcome(RoundState.COLLECTING)


def collect(status: RoundStatus, context: RoundContext) -> Outcome:
    """Count the labels; move on when every pair is answered (``close_when_answered``) or the
    round was closed, closing it in the label service."""
    labelled = context.work.labelled_pairs(status)
    changed = labelled != status.labelled_pairs
    if changed:
        status.labelled_pairs = labelled
        status.updated_at_ms = now_ms()
    answered = status.close_when_answered and labelled >= status.pairs
    if not (status.close_requested or answered):
        return Outcome(changed=changed)
    context.work.close_labels(status)
    return Outcome(RoundState.TRAINING)


def train(status: RoundStatus, context: RoundContext) -> Outcome:
    """Train the round's model on the labels so far; its version and checkpoint path."""
    if status.labelled_pairs == 0:
        raise ValueError("the round was closed without any labelled pair; start a new round")
    status.model_version, status.checkpoint = context.work.train(status, context.label_rounds)
    return Outcome(RoundState.EMBEDDING)


def embed(status: RoundStatus, context: RoundContext) -> Outcome:
    """Embed the archive with the round's model and evaluate it; the index version to build is
    fixed (the serving one + 1) and its embeddings written under it, for INDEXING and for the
    selection service of the next round."""
    lost = _checkpoint_lost(status)
    if lost is not None:
        return lost
    embeddings, status.metrics = context.work.embed(status)
    if status.index_version == 0:
        status.index_version = context.serving.index_version + 1
    ids = context.work.archive_ids()
    context.embeddings.write(status.index_version, status.model_version, ids, embeddings)
    return Outcome(RoundState.INDEXING)


def index(status: RoundStatus, context: RoundContext) -> Outcome:
    """Build the round's index version from its written embeddings (one built already is used)."""
    lost = _checkpoint_lost(status)
    if lost is not None:
        return lost
    try:
        stored = context.embeddings.read(status.index_version)
    except EmbeddingsAbsentError as exc:
        log.info("round %d: %s; embedding the archive again", status.round, exc)
        return Outcome(RoundState.EMBEDDING, redo=True)
    if stored.model_version != status.model_version:
        log.info(
            "round %d: index version %d's embeddings are of model %s, not %s; embedding again",
            status.round,
            status.index_version,
            stored.model_version,
            status.model_version,
        )
        return Outcome(RoundState.EMBEDDING, redo=True)
    if list(stored.ids) != list(context.work.archive_ids()):
        log.info(
            "round %d: index version %d's embeddings are of %d images, the archive has %d now"
            " (images added while the coordinator was down); embedding again",
            status.round,
            status.index_version,
            len(stored.ids),
            len(context.work.archive_ids()),
        )
        return Outcome(RoundState.EMBEDDING, redo=True)
    started = time.perf_counter()
    build_seconds = context.work.index(status, stored.vectors)
    status.stage_seconds["index_build"] = build_seconds or time.perf_counter() - started
    return Outcome(RoundState.SWAPPING)


def swap(status: RoundStatus, context: RoundContext) -> Outcome:
    """Serve the round's index (unless it serves already: swapped before a restart)."""
    if context.work.serving_version() < status.index_version:
        lost = _checkpoint_lost(status)
        if lost is not None:
            return lost
        if not context.work.swap(status):
            log.warning(
                "round %d: the search service has no build of index version %d; building it again",
                status.round,
                status.index_version,
            )
            return Outcome(RoundState.INDEXING, redo=True)
    serving = Serving(
        status.index_version,
        status.model_version,
        status.checkpoint,
        dict(status.metrics),
        status.mode,
    )
    return Outcome(RoundState.DONE, serving=serving)


def _checkpoint_lost(status: RoundStatus) -> Outcome | None:
    """Back to TRAINING when the round's checkpoint is gone (every state after it needs it)."""
    if Path(status.checkpoint).is_file():
        return None
    log.warning("round %d: no checkpoint %s; training again", status.round, status.checkpoint)
    return Outcome(RoundState.TRAINING, redo=True)


HANDLERS: Mapping[RoundState, Handler] = MappingProxyType(
    {
        RoundState.SELECTING: select,
        RoundState.COLLECTING: collect,
        RoundState.TRAINING: train,
        RoundState.EMBEDDING: embed,
        RoundState.INDEXING: index,
        RoundState.SWAPPING: swap,
    }
)
"""The handler of every state a round can be in before it is DONE or FAILED."""

STAGE_NAMES: Mapping[RoundState, str] = MappingProxyType(
    {
        RoundState.SELECTING: "selection",
        RoundState.TRAINING: "training",
        RoundState.EMBEDDING: "embedding",
        RoundState.INDEXING: "indexing",
        RoundState.SWAPPING: "swap",
    }
)
"""The ``stage_seconds`` key under which a state's time is recorded when it moves on."""
