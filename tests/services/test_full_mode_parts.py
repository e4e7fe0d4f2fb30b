"""Full mode's small parts, without Ray running: each worker's shard of the pairs, and a round
status or serving record from before modes existed loading as head mode."""

from __future__ import annotations

import pytest

from services.coordinator.ray_train_full import shard_rows
from services.coordinator.round_status import CoordinatorState


@pytest.mark.parametrize(
    ("pairs", "world", "shards"),
    [
        (5, 2, [[0, 2, 4], [1, 3]]),  # every pair once, split as evenly as it goes
        (4, 2, [[0, 2], [1, 3]]),
        (1, 2, [[0], [0]]),  # fewer pairs than workers: repeated, so no worker is idle
        (2, 3, [[0], [1], [0]]),
    ],
)
def test_each_worker_trains_on_its_shard_of_the_pairs(pairs, world, shards) -> None:
    assert [shard_rows(pairs, rank, world).tolist() for rank in range(world)] == shards


def test_a_state_file_from_before_modes_loads_its_rounds_and_serving_as_head_mode() -> None:
    old_round = {
        "round": 1,
        "strategy": "mgue",
        "budget": 4,
        "seed": 0,
        "close_when_answered": True,
        "state": "done",
    }
    state = CoordinatorState.from_dict(
        {"serving": {"index_version": 2, "model_version": "round-1"}, "rounds": [old_round]}
    )
    assert (state.rounds[0].mode, state.serving.mode) == ("head", "head")
    assert CoordinatorState.from_dict(state.to_dict()) == state
