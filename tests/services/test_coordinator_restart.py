"""A coordinator that stops in any state resumes the round in that state and does exactly the work
left, with a fake RoundWork (the other services outlive the coordinator); and a state file
written before the split (main@207b891, today's format) still resumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from round_fakes import ARCHIVE_IDS, METRICS, FakeWork, Harness, embeddings_of

from services.coordinator.round_status import RoundState, Serving

BEFORE_SPLIT = Path(__file__).parent / "data" / "coordinator_state_before_split.json"
LATER = ["train", "embed", "index", "serving_version", "swap"]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    work = FakeWork(tmp_path)
    work.labelled = work.pairs
    return Harness(tmp_path / "coordinator", work)


@pytest.mark.parametrize(
    ("state", "left"),
    [
        (RoundState.SELECTING, ["select", "labelled_pairs", "close_labels", *LATER]),
        (RoundState.COLLECTING, ["labelled_pairs", "close_labels", *LATER]),
        (RoundState.TRAINING, LATER),
        (RoundState.EMBEDDING, ["embed", "index", "serving_version", "swap"]),
        (RoundState.INDEXING, ["index", "serving_version", "swap"]),  # no embedding again
        (RoundState.SWAPPING, ["serving_version", "swap"]),  # no build again
    ],
)
def test_a_round_resumes_in_the_state_it_stopped_in(
    harness: Harness, state: RoundState, left: list[str]
) -> None:
    harness.open_round()
    harness.run_to(state)
    harness.restart()
    harness.work.calls.clear()
    assert harness.latest.state is state
    harness.run_to(RoundState.DONE)
    assert harness.work.calls == left
    assert (harness.latest.index_version, harness.work.serving) == (2, 2)
    assert harness.persisted.state.serving.model_version == "round-1"
    assert np.allclose(harness.work.indexed, embeddings_of(1))


def test_a_restart_after_the_swap_but_before_done_was_saved_only_records_it(
    harness: Harness,
) -> None:
    harness.open_round()
    harness.run_to(RoundState.SWAPPING)
    assert harness.work.swap(harness.latest)  # swapped, then the coordinator died
    harness.restart()
    harness.work.calls.clear()
    harness.run_to(RoundState.DONE)
    assert harness.work.calls == ["serving_version"]
    assert harness.persisted.state.serving == Serving(
        2, "round-1", harness.latest.checkpoint, METRICS
    )


def test_a_build_lost_by_the_search_service_is_built_again_from_the_saved_embeddings(
    harness: Harness,
) -> None:
    harness.open_round()
    harness.run_to(RoundState.SWAPPING)
    harness.work.built.clear()  # the search service restarted: unswapped builds are gone
    harness.work.calls.clear()
    states = harness.run_to(RoundState.DONE)
    assert states == [RoundState.INDEXING, RoundState.SWAPPING, RoundState.DONE]
    assert harness.work.calls == ["serving_version", "swap", "index", "serving_version", "swap"]
    assert harness.work.serving == 2


def test_indexing_after_a_restart_reads_the_written_embeddings_in_place(
    harness: Harness,
) -> None:
    harness.open_round()
    harness.run_to(RoundState.INDEXING)
    harness.restart()
    harness.work.calls.clear()
    harness.step()
    assert harness.latest.state is RoundState.SWAPPING
    assert harness.work.calls == ["index"]
    indexed = harness.work.indexed
    assert isinstance(indexed, np.memmap)  # the file, mapped: not embedded or copied again
    assert Path(indexed.filename) == (harness.embeddings.path(2) / "vectors.npy").resolve()


def test_missing_saved_embeddings_are_made_again(harness: Harness) -> None:
    harness.open_round()
    harness.run_to(RoundState.INDEXING)
    harness.embeddings.drop(2)  # e.g. a state folder restored from a backup without them
    harness.restart()
    harness.work.calls.clear()
    states = harness.run_to(RoundState.DONE)
    assert states[:2] == [RoundState.EMBEDDING, RoundState.INDEXING]
    assert harness.work.calls == ["embed", "index", "serving_version", "swap"]
    assert "embedding" in harness.latest.stage_seconds


def test_embeddings_written_without_their_manifest_are_made_again(harness: Harness) -> None:
    harness.open_round()
    harness.run_to(RoundState.INDEXING)
    (harness.embeddings.path(2) / "manifest.json").unlink()  # died before the manifest
    harness.restart()
    harness.work.calls.clear()
    states = harness.run_to(RoundState.DONE)
    assert states[:2] == [RoundState.EMBEDDING, RoundState.INDEXING]
    assert harness.work.calls == ["embed", "index", "serving_version", "swap"]
    assert harness.embeddings.read(2).model_version == "round-1"


def test_embeddings_of_another_model_under_the_rounds_version_are_made_again(
    harness: Harness,
) -> None:
    harness.open_round()
    harness.run_to(RoundState.INDEXING)
    stale = embeddings_of(1)[::-1]  # e.g. left by an earlier deployment's version 2
    harness.embeddings.write(2, "round-0-d8", ARCHIVE_IDS, stale)
    harness.restart()
    harness.work.calls.clear()
    harness.run_to(RoundState.DONE)
    assert harness.work.calls == ["embed", "index", "serving_version", "swap"]
    assert np.allclose(harness.work.indexed, embeddings_of(1))


@pytest.mark.parametrize("state", [RoundState.EMBEDDING, RoundState.INDEXING, RoundState.SWAPPING])
def test_a_missing_checkpoint_sends_the_round_back_to_training(
    harness: Harness, state: RoundState
) -> None:
    harness.open_round()
    harness.run_to(state)
    Path(harness.latest.checkpoint).unlink()
    harness.restart()
    harness.work.calls.clear()
    harness.step()
    assert harness.latest.state is RoundState.TRAINING
    assert harness.work.calls == ([] if state is not RoundState.SWAPPING else ["serving_version"])
    harness.run_to(RoundState.DONE)
    assert Path(harness.latest.checkpoint).is_file()
    assert harness.latest.index_version == 2  # the version fixed before is kept


def _before_split(folder: Path, state: RoundState, checkpoint: Path | None) -> None:
    """The fixture (round 1 done, round 2 in ``state``) as the coordinator's state file; with
    ``checkpoint``, round 2's checkpoint at that path (the fixture's relative path is absent)."""
    data = json.loads(BEFORE_SPLIT.read_text(encoding="utf-8"))
    data["rounds"][-1]["state"] = state.value
    if checkpoint is not None:
        checkpoint.write_bytes(b"weights")
        data["rounds"][-1]["checkpoint"] = str(checkpoint)
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.mark.parametrize(
    ("state", "left"),
    [
        (RoundState.SELECTING, ["select", "labelled_pairs", "close_labels", *LATER]),
        (RoundState.COLLECTING, ["labelled_pairs", "close_labels", *LATER]),
        (RoundState.TRAINING, LATER),
        (RoundState.EMBEDDING, ["embed", "index", "serving_version", "swap"]),
        # today's code kept the embeddings in memory: INDEXING embeds again
        (RoundState.INDEXING, ["embed", "index", "serving_version", "swap"]),
        # the build is not in this fake search service: built again, then swapped
        (
            RoundState.SWAPPING,
            ["serving_version", "swap", "embed", "index", "serving_version", "swap"],
        ),
    ],
)
def test_a_state_file_written_before_the_split_resumes(
    tmp_path: Path, state: RoundState, left: list[str]
) -> None:
    folder = tmp_path / "coordinator"
    _before_split(folder, state, tmp_path / "round-2.pt")
    work = FakeWork(tmp_path)
    work.serving, work.labelled = 2, 4  # round 1's index serves; round 2 is closed
    harness = Harness(folder, work, bootstrapped=False)
    assert [r.state for r in harness.persisted.state.rounds] == [RoundState.DONE, state]
    harness.run_to(RoundState.DONE)
    assert work.calls == left
    latest = harness.latest
    assert (latest.round, latest.index_version, work.serving) == (2, 3, 3)
    assert harness.persisted.state.serving.index_version == 3
    first = harness.persisted.state.rounds[0]
    assert (first.state, first.stage_seconds["index_build"]) == (RoundState.DONE, 1.1)
    written = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    fixture = json.loads(BEFORE_SPLIT.read_text(encoding="utf-8"))
    assert set(written) == set(fixture)  # the format is unchanged: the same keys, and the
    # training mode and annotators per pair added since (a file without them loads as head
    # mode, the only one then, and 1 annotator per pair)
    added = {"mode", "annotators_per_pair"}
    assert set(written["rounds"][-1]) == set(fixture["rounds"][-1]) | added
    assert set(written["serving"]) == set(fixture["serving"]) | {"mode"}
    assert (latest.mode, harness.persisted.state.serving.mode) == ("head", "head")
    assert latest.annotators_per_pair == 1


def test_a_state_file_written_before_the_split_without_its_checkpoint_trains_again(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "coordinator"
    _before_split(folder, RoundState.INDEXING, checkpoint=None)
    work = FakeWork(tmp_path)
    work.serving, work.labelled = 2, 4
    harness = Harness(folder, work, bootstrapped=False)
    states = harness.run_to(RoundState.DONE)
    assert states[:2] == [RoundState.TRAINING, RoundState.EMBEDDING]
    assert work.calls == LATER
    assert work.trained_on == [1, 2]
