"""RestartPolicy on a fake clock: doubling back-off, capped, giving up after max_crashes within
the window, and forgetting crashes older than the window."""

from __future__ import annotations

import pytest

from services.cli.restart_policy import RestartPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_back_off_doubles_up_to_its_cap_then_gives_up() -> None:
    clock = FakeClock()
    policy = RestartPolicy(
        initial_backoff_s=0.5,
        multiplier=2,
        max_backoff_s=1.5,
        max_crashes=5,
        window_s=60,
        clock=clock,
    )
    history = policy.history()
    delays = []
    for _ in range(4):
        delays.append(history.crashed())
        clock.now += 1.0
    assert delays == [0.5, 1.0, 1.5, 1.5]
    assert history.crashed() is None  # the 5th crash within 60 s
    assert history.recent == 5


def test_crashes_older_than_the_window_are_forgotten() -> None:
    clock = FakeClock()
    policy = RestartPolicy(
        initial_backoff_s=1, max_backoff_s=8, max_crashes=3, window_s=10, clock=clock
    )
    history = policy.history()
    assert history.crashed() == 1
    clock.now += 5
    assert history.crashed() == 2
    clock.now += 6  # the first crash is 11 s old: out of the window
    assert history.recent == 1
    assert history.crashed() == 2  # 2 crashes in the window, not a 3rd: restarted
    clock.now += 11
    assert history.crashed() == 1  # a service that ran well starts from the short delay


def test_each_service_has_its_own_history() -> None:
    clock = FakeClock()
    policy = RestartPolicy(max_crashes=2, clock=clock)
    first, second = policy.history(), policy.history()
    assert first.crashed() is not None
    assert first.crashed() is None
    assert second.crashed() == policy.initial_backoff_s


@pytest.mark.parametrize(
    "bad",
    [
        {"initial_backoff_s": -1},
        {"initial_backoff_s": 5, "max_backoff_s": 1},
        {"multiplier": 0.5},
        {"max_crashes": 0},
        {"window_s": 0},
    ],
)
def test_nonsense_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**bad)  # type: ignore[arg-type]
