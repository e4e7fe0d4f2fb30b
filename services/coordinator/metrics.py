"""The coordinator's metrics (owner: coordinator, docs/architecture.md): rounds and evaluation."""

from prometheus_client import Gauge
from prometheus_client.registry import Collector

ROUND = Gauge("anneal_round", "Current active-learning round number.", registry=None)
ROUND_STATE = Gauge(
    "anneal_round_state",
    "1 for the current state of the current round, 0 otherwise.",
    ["state"],
    registry=None,
)
EVAL_MAP = Gauge("anneal_eval_map", "Latest evaluation mAP@k.", ["k"], registry=None)
COLLECTORS: tuple[Collector, ...] = (ROUND, ROUND_STATE, EVAL_MAP)
