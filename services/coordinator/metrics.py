"""The coordinator's metrics (owner: coordinator, docs/architecture.md): rounds, evaluation and
the archive's feature extraction."""

from prometheus_client import Gauge
from prometheus_client.registry import Collector

from anneal.models.extraction_progress import ExtractionProgress
from services.coordinator.round_status import CoordinatorState, RoundState

ROUND = Gauge("anneal_round", "Current active-learning round number.", registry=None)
ROUND_STATE = Gauge(
    "anneal_round_state",
    "1 for the current state of the current round, 0 otherwise.",
    ["state"],
    registry=None,
)
EVAL_MAP = Gauge("anneal_eval_map", "Latest evaluation mAP@k.", ["k"], registry=None)
EXTRACTION_DONE = Gauge(
    "anneal_extraction_images_done",
    "Archive images whose backbone features are stored, cached or skipped as unreadable.",
    registry=None,
)
EXTRACTION_TOTAL = Gauge(
    "anneal_extraction_images_total", "Archive images to extract features of.", registry=None
)
EXTRACTION_RATE = Gauge(
    "anneal_extraction_images_per_second",
    "Feature extraction throughput over the last 30 s.",
    registry=None,
)
EXTRACTION_LEFT = Gauge(
    "anneal_extraction_seconds_left",
    "Estimated seconds until feature extraction ends (0 when done, -1 while unknown).",
    registry=None,
)
COLLECTORS: tuple[Collector, ...] = (
    ROUND,
    ROUND_STATE,
    EVAL_MAP,
    EXTRACTION_DONE,
    EXTRACTION_TOTAL,
    EXTRACTION_RATE,
    EXTRACTION_LEFT,
)


def watch_extraction(progress: ExtractionProgress) -> None:
    """Read the extraction gauges from ``progress`` at every scrape."""
    EXTRACTION_DONE.set_function(lambda: progress.snapshot().done)
    EXTRACTION_TOTAL.set_function(lambda: progress.snapshot().total)
    EXTRACTION_RATE.set_function(lambda: progress.snapshot().images_per_second)

    def left() -> float:
        seconds = progress.snapshot().seconds_left
        return -1.0 if seconds is None else seconds

    EXTRACTION_LEFT.set_function(left)


def publish(state: CoordinatorState) -> None:
    """Set the gauges from the state: the latest round, its state, the serving model's mAP."""
    latest = state.latest
    ROUND.set(latest.round if latest else 0)
    for each in RoundState:
        ROUND_STATE.labels(each.value).set(1 if latest and latest.state is each else 0)
    for key, value in state.serving.metrics.items():
        EVAL_MAP.labels(key.split("@")[1]).set(value)
