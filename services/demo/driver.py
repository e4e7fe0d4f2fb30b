"""The demo: start the system, run rounds with a simulated annotator under live query load.

Per round it prints labelled pairs, mAP@20 (the coordinator's evaluation on a held-out query
split), the index version, rebuild seconds (re-embed + index build + swap) and the Retrieve
p50/p99 latency seen by the query clients during the round; then it writes the learning curve.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from anneal.data.archive import Archive
from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from services.cli.system_config import SystemConfig
from services.cli.system_start import start_system
from services.demo.annotator import SimulatedAnnotator
from services.demo.learning_curve import write_learning_curve
from services.demo.metrics_scrape import gauge_value
from services.demo.query_load import QueryLoad, retrieval_query
from services.security.principal import Role

FINISHED = (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED)


@dataclass(frozen=True)
class DemoSettings:
    rounds: int = 3
    budget: int = 100
    strategy: str = "mgue"
    k: int = 20
    query_clients: int = 2
    idle_seconds: float = 5.0
    round_timeout_s: float = 600.0


@dataclass
class RoundRow:
    round: int
    labelled: int
    map20: float
    index_version: int
    rebuild_s: float
    round_s: float
    p50_ms: float
    p99_ms: float
    rebuild_p99_ms: float
    errors: int
    stages: dict[str, float]
    stage_p99_ms: dict[str, float] = field(default_factory=dict)


def stage_p99(
    load: QueryLoad, windows: list[tuple[str, float]], finished: float
) -> dict[str, float]:
    """p99 latency of the queries answered in each (state, start) window, up to ``finished``.

    States seen in a single poll may be missed; a window with too few calls for a p99 (under
    20) is left out.
    """
    out: dict[str, float] = {}
    ends = [start for _, start in windows[1:]] + [finished]
    for (name, start), end in zip(windows, ends, strict=True):
        stats = load.stats(start, end)
        if stats.calls - stats.errors >= 20:
            out[name] = stats.p99_ms
    return out


class Demo:
    """One demo run on a fresh state folder (the feature store is kept between runs)."""

    def __init__(
        self, config: SystemConfig, settings: DemoSettings, out: Path, console: Console
    ) -> None:
        self.config = config
        self.settings = settings
        self.out = out
        self.console = console

    def run(self) -> bool:
        """Run the demo; True when every round finished and no query failed."""
        shutil.rmtree(self.config.state_dir, ignore_errors=True)
        started = time.monotonic()
        supervisor = start_system(self.config, self.console.print, console=self.console)
        try:
            self.console.print(
                f"system up and archive indexed in {time.monotonic() - started:.0f}s"
            )
            return self._rounds()
        finally:
            supervisor.stop()
            self.console.print(f"demo finished in {time.monotonic() - started:.0f}s")

    def _query_load(self) -> QueryLoad:
        """Clients querying Retrieve with the local reader token."""
        ids = Archive.from_folder(self.config.archive).ids
        channel = self.config.client(Role.READER).channel(self.config.address("retrieval"))
        return QueryLoad(
            retrieval_query(channel), ids, self.settings.k, self.settings.query_clients
        )

    def _rounds(self) -> bool:
        operator = self.config.client(Role.OPERATOR)
        coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(
            operator.channel(self.config.address("coordinator"))
        )
        annotator_security = self.config.client(Role.ANNOTATOR)
        annotator = SimulatedAnnotator(
            annotator_security.channel(self.config.address("selection")),
            annotator_security.channel(self.config.address("labels")),
        )
        load, target = self._query_load(), "Retrieve"
        load.start()
        t0 = time.monotonic()
        time.sleep(self.settings.idle_seconds)
        idle = load.stats(t0, time.monotonic())
        status = coordinator.GetStatus(pb.GetStatusRequest(), timeout=10)
        url = f"http://{self.config.host}:{self.config.metrics_port('coordinator')}/metrics"
        map0 = gauge_value(url, "anneal_eval_map", {"k": "20"}) or float("nan")
        rows = [
            RoundRow(
                0,
                0,
                map0,
                status.serving_index_version,
                0.0,
                0.0,
                idle.p50_ms,
                idle.p99_ms,
                idle.p99_ms,
                idle.errors,
                {},
            )
        ]
        self._print_row(rows[-1], target)
        ok = True
        labelled = 0
        for number in range(1, self.settings.rounds + 1):
            row = self._round(coordinator, annotator, load, number, labelled)
            if row is None:
                ok = False
                break
            labelled = row.labelled
            rows.append(row)
            self._print_row(row, target)
        load.stop()
        total = load.stats()
        self._report(rows, total, target)
        return ok and total.errors == 0 and total.versions_backwards == 0 and total.incomplete == 0

    def _round(
        self,
        coordinator,
        annotator: SimulatedAnnotator,
        load: QueryLoad,
        number: int,
        labelled: int,
    ) -> RoundRow | None:  # type: ignore[no-untyped-def]
        started = time.monotonic()
        request = pb.StartRoundRequest(
            strategy=self.settings.strategy,
            budget=self.settings.budget,
            seed=number,
            close_when_answered=True,
        )
        status = coordinator.StartRound(request, timeout=self.settings.round_timeout_s).status
        windows = [("selecting", started)]
        windows.append(("labelling", time.monotonic()))
        annotator.answer_round(status.round)
        answered = time.monotonic()
        deadline = answered + self.settings.round_timeout_s
        while status.state not in FINISHED and time.monotonic() < deadline:
            time.sleep(0.1)
            status = coordinator.GetStatus(
                pb.GetStatusRequest(round=status.round), timeout=10
            ).round
            name = pb.RoundState.Name(status.state).removeprefix("ROUND_STATE_").lower()
            if name != windows[-1][0]:
                windows.append((name, time.monotonic()))
        finished = time.monotonic()
        if status.state != pb.ROUND_STATE_DONE:
            self.console.print(
                f"[red]round {number} did not finish: {status.error or status.state}[/red]"
            )
            return None
        during = load.stats(started, finished)
        rebuild = load.stats(answered, finished)
        stages = dict(status.stage_seconds)
        return RoundRow(
            round=number,
            labelled=labelled + status.labelled_pairs,
            map20=status.metrics.get("map@20", float("nan")),
            index_version=status.index_version,
            rebuild_s=sum(stages.get(s, 0.0) for s in ("embedding", "indexing", "swap")),
            round_s=sum(
                stages.get(s, 0.0)
                for s in ("selection", "training", "embedding", "indexing", "swap")
            ),
            p50_ms=during.p50_ms,
            p99_ms=during.p99_ms,
            rebuild_p99_ms=rebuild.p99_ms,
            errors=during.errors,
            stages=stages,
            stage_p99_ms=stage_p99(load, windows, finished),
        )

    def _print_row(self, row: RoundRow, target: str) -> None:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(row.stages.items()))
        by_state = ", ".join(f"{k} {v:.0f} ms" for k, v in row.stage_p99_ms.items())
        self.console.print(
            f"round {row.round}: {row.labelled} labelled pairs, mAP@20 {row.map20:.4f}, "
            f"index v{row.index_version}, rebuild {row.rebuild_s:.1f}s, round {row.round_s:.1f}s; "
            f"{target} p50 {row.p50_ms:.1f} ms p99 {row.p99_ms:.1f} ms "
            f"(p99 during rebuild {row.rebuild_p99_ms:.1f} ms), {row.errors} errors"
            + (f"\n   stages: {stages}" if stages else "")
            + (f"\n   {target} p99 by state: {by_state}" if by_state else "")
        )

    def _report(self, rows: list[RoundRow], total, target: str) -> None:  # type: ignore[no-untyped-def]
        table = Table(
            title=f"ANNEAL demo: {self.settings.strategy}, {self.settings.budget} pairs per round"
        )
        for column in (
            "round",
            "labelled pairs",
            "mAP@20",
            "index",
            "rebuild s",
            "round s",
            f"{target} p50 ms",
            "p99 ms",
            "errors",
        ):
            table.add_column(column)
        for r in rows:
            table.add_row(
                str(r.round),
                str(r.labelled),
                f"{r.map20:.4f}",
                str(r.index_version),
                f"{r.rebuild_s:.2f}",
                f"{r.round_s:.2f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                str(r.errors),
            )
        self.console.print(table)
        self.console.print(
            f"queries: {total.calls} calls, {total.errors} failed, {total.incomplete} incomplete, "
            f"{total.versions_backwards} times an index version went backwards for a client"
        )
        curve = self.out / "learning_curve.png"
        write_learning_curve(
            curve,
            [r.labelled for r in rows],
            [r.map20 for r in rows],
            f"ANNEAL {self.settings.strategy} on {self.config.archive.name}",
        )
        self.console.print(f"learning curve: {curve}")
