"""The coordinator's state machine with a fake RoundWork: every transition, what each state
records, failures, and the back-off of transient ones (no thread, no sleeping: each step's pause
is returned, not taken)."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from round_fakes import (
    ARCHIVE_IDS,
    METRICS,
    ROUND0,
    FakeWork,
    Harness,
    Status,
    embeddings_of,
    unavailable,
)

from services.common.metrics import grpc_service_registry
from services.coordinator.metrics import COLLECTORS
from services.coordinator.round_machine import Pause
from services.coordinator.round_status import RoundState, Serving

REGISTRY = grpc_service_registry(COLLECTORS)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "coordinator", FakeWork(tmp_path))


def test_a_round_goes_through_every_state_and_records_what_each_produced(
    harness: Harness,
) -> None:
    work = harness.work
    work.labelled = work.pairs  # every pair answered: COLLECTING moves on at once
    status = harness.open_round()
    states = harness.run_to(RoundState.DONE)

    assert states == [
        RoundState.COLLECTING,
        RoundState.TRAINING,
        RoundState.EMBEDDING,
        RoundState.INDEXING,
        RoundState.SWAPPING,
        RoundState.DONE,
    ]
    assert work.calls == [
        "select",
        "labelled_pairs",
        "close_labels",
        "train",
        "embed",
        "index",
        "serving_version",
        "swap",
    ]
    assert work.selected_on == 1  # selection scores with the serving index
    assert work.trained_on == [1]
    assert np.allclose(work.indexed, embeddings_of(1))  # INDEXING built what EMBEDDING made
    assert (status.pairs, status.labelled_pairs) == (4, 4)
    assert (status.model_version, status.index_version, status.metrics) == ("round-1", 2, METRICS)
    assert set(status.stage_seconds) == {
        "selection",
        "training",
        "embedding",
        "indexing",
        "index_build",
        "swap",
    }
    assert status.stage_seconds["index_build"] == 1.5  # the search service's own figure
    serving = Serving(2, "round-1", status.checkpoint, METRICS)
    assert harness.persisted.state.serving == serving
    assert work.serving == 2
    assert harness.stored() == status  # every change is on disk
    assert harness.embeddings.read(2).model_version == "round-1"  # serving: kept for selection
    assert REGISTRY.get_sample_value("anneal_round") == 1
    assert REGISTRY.get_sample_value("anneal_round_state", {"state": "done"}) == 1
    assert REGISTRY.get_sample_value("anneal_round_state", {"state": "swapping"}) == 0
    assert REGISTRY.get_sample_value("anneal_eval_map", {"k": "20"}) == 0.5


def test_embedding_writes_its_output_under_the_index_version_it_fixes(harness: Harness) -> None:
    harness.work.labelled = 4
    harness.open_round()
    harness.run_to(RoundState.INDEXING)
    assert harness.stored().index_version == 2  # fixed with the move to INDEXING, on disk
    saved = harness.embeddings.read(2)
    assert (saved.version, saved.model_version, saved.ids) == (2, "round-1", ARCHIVE_IDS)
    assert np.allclose(saved.vectors, embeddings_of(1))


def test_the_written_embeddings_are_normalised_and_indexed_as_written(harness: Harness) -> None:
    harness.work.labelled = 4
    for _ in range(2):
        harness.open_round()
        harness.run_to(RoundState.DONE)
    # round 2's model gives rows of length 2; they are stored, and indexed, as unit rows
    assert np.allclose(np.linalg.norm(harness.embeddings.read(3).vectors, axis=1), 1.0)
    assert np.allclose(harness.work.indexed, embeddings_of(1))


def test_after_a_swap_the_serving_and_the_previous_versions_embeddings_are_kept(
    harness: Harness,
) -> None:
    harness.work.labelled = 4
    for _ in range(3):  # index versions 2, 3 and 4
        harness.open_round()
        harness.run_to(RoundState.DONE)
    assert harness.embeddings.versions() == [3, 4]


def test_collecting_polls_until_the_round_is_closed(harness: Harness) -> None:
    work = harness.work
    harness.open_round(close_when_answered=False)
    harness.step()  # SELECTING -> COLLECTING
    assert harness.step() == Pause(0.5, until_change=True)  # no label yet: poll again
    work.labelled = 4  # every pair answered, but this round waits for CloseRound
    assert harness.step() == Pause(0.5, until_change=True)
    assert harness.stored().labelled_pairs == 4  # the new count is saved while it waits
    assert harness.latest.state is RoundState.COLLECTING
    assert "close_labels" not in work.calls

    harness.latest.close_requested = True
    harness.step()
    assert harness.latest.state is RoundState.TRAINING
    assert work.calls[-1] == "close_labels"


def test_collecting_with_close_when_answered_moves_on_at_the_last_label(
    harness: Harness,
) -> None:
    harness.open_round(close_when_answered=True)
    harness.step()
    harness.work.labelled = 3
    harness.step()
    assert harness.latest.state is RoundState.COLLECTING
    harness.work.labelled = 4
    harness.step()
    assert harness.latest.state is RoundState.TRAINING


def test_a_round_closed_without_labels_fails_and_the_previous_index_keeps_serving(
    harness: Harness,
) -> None:
    harness.open_round(close_when_answered=False)
    harness.step()
    harness.latest.close_requested = True
    harness.run_to(RoundState.FAILED)
    assert harness.latest.error.startswith("training: the round was closed without any labelled")
    assert "train" not in harness.work.calls
    assert harness.persisted.state.serving == ROUND0
    assert harness.stored().state is RoundState.FAILED


@pytest.mark.parametrize(
    ("state", "method"),
    [
        (RoundState.SELECTING, "select"),
        (RoundState.COLLECTING, "labelled_pairs"),
        (RoundState.TRAINING, "train"),
        (RoundState.EMBEDDING, "embed"),
        (RoundState.INDEXING, "index"),
        (RoundState.SWAPPING, "swap"),
    ],
)
def test_a_failure_that_is_not_transient_fails_the_round_in_any_state(
    harness: Harness, state: RoundState, method: str
) -> None:
    harness.work.labelled = 4
    harness.work.fail[method] = [ValueError(f"{method} refused")]
    harness.open_round()
    harness.run_to(state)
    assert harness.step() == Pause(0.0)
    assert (harness.latest.state, harness.latest.error) == (
        RoundState.FAILED,
        f"{state.value}: {method} refused",
    )
    assert harness.stored().state is RoundState.FAILED
    assert harness.persisted.state.serving == ROUND0  # only a finished SWAPPING changes it
    assert harness.work.serving == 1
    assert harness.embeddings.versions() == []  # the unswapped version's files are dropped


def test_a_selection_refusal_is_kept_once_for_start_round(harness: Harness) -> None:
    refusal = Status(grpc.StatusCode.INVALID_ARGUMENT, "budget 5000 exceeds the 12 candidates")
    harness.work.fail["select"] = [refusal]
    harness.open_round()
    harness.step()
    assert (
        harness.latest.error == "selecting: INVALID_ARGUMENT: budget 5000 exceeds the 12 candidates"
    )
    assert harness.machine.take_start_error(1) is refusal
    assert harness.machine.take_start_error(1) is None


def test_transient_failures_back_off_doubling_to_30_s_and_the_11th_fails_the_round(
    harness: Harness,
) -> None:
    harness.work.labelled = 4
    harness.work.fail["index"] = [unavailable() for _ in range(11)]
    harness.open_round()
    harness.run_to(RoundState.INDEXING)
    pauses = [harness.step() for _ in range(10)]
    assert [p.seconds for p in pauses] == [2, 4, 8, 16, 30, 30, 30, 30, 30, 30]
    assert not any(p.until_change for p in pauses)  # a CloseRound does not cut a back-off short
    assert harness.latest.state is RoundState.INDEXING
    harness.step()
    assert harness.latest.state is RoundState.FAILED
    assert harness.latest.error == "indexing: UNAVAILABLE: the search service is restarting"
    assert harness.work.calls.count("index") == 11


def test_a_step_that_works_starts_the_back_off_again_from_2_s(harness: Harness) -> None:
    harness.work.labelled = 4
    harness.work.fail["embed"] = [unavailable(), unavailable()]
    harness.work.fail["index"] = [unavailable()]
    harness.open_round()
    harness.run_to(RoundState.EMBEDDING)
    assert [harness.step().seconds for _ in range(2)] == [2, 4]
    harness.step()  # works: EMBEDDING -> INDEXING
    assert harness.latest.state is RoundState.INDEXING
    assert harness.step().seconds == 2
    harness.run_to(RoundState.DONE)


def test_the_next_round_trains_on_the_labels_of_every_round_so_far(harness: Harness) -> None:
    harness.work.labelled = 4
    harness.open_round()
    harness.run_to(RoundState.DONE)
    harness.open_round()
    harness.run_to(RoundState.DONE)
    assert harness.work.trained_on == [1, 2]
    assert (harness.latest.index_version, harness.persisted.state.serving.index_version) == (3, 3)
