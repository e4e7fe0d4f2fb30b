"""The coordinator's metrics (owner: coordinator, docs/architecture.md): rounds and evaluation."""

from prometheus_client import Gauge
from prometheus_client.registry import Collector

from services.coordinator.round_status import CoordinatorState, RoundState

ROUND = Gauge("anneal_round", "Current active-learning round number.", registry=None)
ROUND_STATE = Gauge(
    "anneal_round_state",
    "1 for the current state of the current round, 0 otherwise.",
    ["state"],
    registry=None,
)
EVAL_MAP = Gauge("anneal_eval_map", "Latest evaluation mAP@k.", ["k"], registry=None)
COLLECTORS: tuple[Collector, ...] = (ROUND, ROUND_STATE, EVAL_MAP)


def publish(state: CoordinatorState) -> None:
    """Set the gauges from the state: the latest round, its state, the serving model's mAP."""
    latest = state.latest
    ROUND.set(latest.round if latest else 0)
    for each in RoundState:
        ROUND_STATE.labels(each.value).set(1 if latest and latest.state is each else 0)
    for key, value in state.serving.metrics.items():
        EVAL_MAP.labels(key.split("@")[1]).set(value)
