"""The Markdown report of bench/round_1m.py: stages against the targets of issue 12, peak memory
and bytes moved by process, and Retrieve latency and recall."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from latency_rows import RowStats
from process_probes import StageUse

from services.demo.query_load import LoadStats

GIB = 2**30
ROUND_TARGET_S = 600.0
SELECTION_TARGET_S = 60.0
MEMORY_TARGET = 8 * GIB
REBUILD_P99_TARGET = 2.0
TOP_K = 20
NOT_SERVICES = ("bench (clients, annotator)",)
"""Processes the memory target does not cover: the benchmark's clients and annotator."""
UNTIMED = ("labelling (simulated)",)
"""Stages not counted in the round's time: people answer, at their pace."""


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


class Report:
    """What one run measured; :meth:`markdown` writes it up."""

    def __init__(
        self,
        args: argparse.Namespace,
        processes: Mapping[str, int],
        prepare_s: float,
        load_before: float,
    ) -> None:
        self.args = args
        self.processes = dict(processes)
        self.prepare_s = prepare_s
        self.load_before = load_before
        """The machine's 1-minute load average before the bootstrap, and after the run: on a
        shared machine, what else ran."""
        self.load_after = float("nan")
        self.bootstrap: list[StageUse] = []
        self.bootstrap_build_s: float | None = None
        """The search service's time building the bootstrap's index (None: not exported)."""
        self.idle: LoadStats | None = None
        self.idle_stage: StageUse | None = None
        self.stages: list[StageUse] = []
        self.details: dict[str, dict[str, Any]] = {}
        self.rebuild: LoadStats | None = None
        self.errors: dict[str, list[str]] = {}
        """The first errors of the idle and rebuild query loads."""
        self.index = ""
        self.build_recall: float | None = None
        self.latency: list[tuple[str, int, RowStats]] = []
        self.recall = float("nan")

    # -- the tables ---------------------------------------------------------------------------

    def _stage_rows(self) -> list[str]:
        rows = ["| stage | seconds | target | met? |", "|---|---|---|---|"]
        rows.append(
            f"| (setup) coordinator workspace of {self.args.n:,} images | "
            f"{self.prepare_s:.1f} | | |"
        )
        for stage in self.bootstrap:
            built = ""
            if stage is self.bootstrap[-1] and self.bootstrap_build_s is not None:
                built = f" (search service's build: {self.bootstrap_build_s:.1f} s)"
            rows.append(f"| ({stage.name}) | {stage.seconds:.1f} | not in the round{built} | |")
        for stage in self.stages:
            target, ok = "", None
            if stage.name == "selection":
                target, ok = f"<= {SELECTION_TARGET_S:.0f} s", stage.seconds <= SELECTION_TARGET_S
            elif stage.name in UNTIMED:
                target = "not counted"
            elif stage.name == "index build":
                built = self.details.get("indexing", {}).get("stage_seconds", {})
                if "index_build" in built:
                    target = f"search service's build: {built['index_build']:.1f} s"
            rows.append(
                f"| {stage.name} | {stage.seconds:.1f} | {target} |"
                f" {'' if ok is None else met(ok)} |"
            )
        if not self.stages:
            return rows  # --no-round
        total = self.round_seconds
        rows.append(
            f"| **round** (all but labelling) | **{total:.1f}** | <= {ROUND_TARGET_S:.0f} s |"
            f" {met(total <= ROUND_TARGET_S)} |"
        )
        return rows

    @property
    def round_seconds(self) -> float:
        return sum(s.seconds for s in self.stages if s.name not in UNTIMED)

    def _memory_rows(self) -> list[str]:
        columns = [*self.bootstrap, *self.stages]
        counted = self.stages or self.bootstrap  # --no-round: the bootstrap's peak
        title = "round peak" if self.stages else "bootstrap peak"
        rows = [
            "| process | " + " | ".join(s.name for s in columns) + f" | {title} | <= 8 GiB? |",
            "|---|" + "---|" * (len(columns) + 2),
        ]
        for name in self.processes:
            peaks = [s.peaks.get(name, 0) for s in columns]
            peak = max((s.peaks.get(name, 0) for s in counted), default=0)
            verdict = "(not a service)" if name in NOT_SERVICES else met(peak <= MEMORY_TARGET)
            cells = " | ".join(f"{p / GIB:.2f}" for p in peaks)
            rows.append(f"| {name} | {cells} | **{peak / GIB:.2f}** | {verdict} |")
        return rows

    def _bytes_rows(self) -> list[str]:
        columns = [*self.bootstrap[1:], *self.stages]
        pairs = sorted({pair for s in columns for pair in s.moved})
        rows = [
            "| from -> to | " + " | ".join(s.name for s in columns) + " | round |",
            "|---|" + "---|" * (len(columns) + 1),
        ]
        for pair in pairs:
            cells = [s.moved.get(pair, 0) for s in columns]
            total = sum(s.moved.get(pair, 0) for s in self.stages)
            if max(cells) < 1000:
                continue
            rows.append(
                f"| {pair[0]} -> {pair[1]} | "
                + " | ".join(_size(c) for c in cells)
                + f" | **{_size(total)}** |"
            )
        return rows

    def _rebuild_rows(self) -> list[str]:
        rows = [
            "| Retrieve by id | calls | errors | incomplete | versions backwards | p50 ms"
            " | p99 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, stats in (("idle", self.idle), ("during the index build", self.rebuild)):
            if stats is not None:
                rows.append(
                    f"| {name}, {self.args.clients} clients | {stats.calls:,} | {stats.errors} |"
                    f" {stats.incomplete} | {stats.versions_backwards} | {stats.p50_ms:.1f} |"
                    f" {stats.p99_ms:.1f} |"
                )
        for name, errors in self.errors.items():
            if errors:
                rows.append(f"\nfirst errors ({name}): {'; '.join(errors)}")
        if self.idle is not None and self.rebuild is not None:
            ratio = self.rebuild.p99_ms / self.idle.p99_ms
            rows.append(
                f"\np99 during the build / idle = **{ratio:.2f}** (target <="
                f" {REBUILD_P99_TARGET:.0f}x: {met(ratio <= REBUILD_P99_TARGET)})"
            )
        return rows

    def _latency_rows(self) -> list[str]:
        rows = [
            f"Index {self.index}; Retrieve top-{TOP_K}, {self.args.queries} queries a row:\n",
            "| query | clients | p50 ms | p99 ms | queries/s | errors |",
            "|---|---|---|---|---|---|",
        ]
        for name, clients, stats in self.latency:
            rows.append(
                f"| {name} | {clients} | {stats.p50_ms:.1f} | {stats.p99_ms:.1f} |"
                f" {stats.per_second:.0f} | {sum(stats.errors.values())} |"
            )
        built = "n/a" if self.build_recall is None else f"{self.build_recall:.3f}"
        rows.append(
            f"\nrecall@{TOP_K} of Retrieve by vector against exact (numpy) search,"
            f" {self.args.recall_queries} stored vectors: **{self.recall:.3f}**"
            f" (the search service's own check at build: {built})"
        )
        return rows

    def markdown(self, command: str) -> str:
        a = self.args
        head = (
            f"`{command}`\n\n{a.n:,} images, {a.clusters} classes, features 1280-d -> "
            f"{a.dim}-d head, budget {a.budget} ({a.strategy}), seed {a.seed},"
            f" {os.cpu_count()} CPUs, {a.ann_type} from {a.ann_min_rows:,} rows"
            f" (build {a.ann_build_params or 'default'},"
            f" search {a.ann_search_params or 'default'}); load average"
            f" {self.load_before:.1f} before the bootstrap, {self.load_after:.1f} at the end\n"
        )
        sections = [
            ("Stages", self._stage_rows()),
            ("Peak resident memory by stage, GiB (VmHWM)", self._memory_rows()),
            ("Bytes TCP carried between processes, by stage", self._bytes_rows()),
            (
                "Retrieve while the round's index is built" if self.stages else "Retrieve idle",
                self._rebuild_rows(),
            ),
            (
                f"Retrieve after the {'round' if self.stages else 'bootstrap'}, {a.n:,} vectors",
                self._latency_rows(),
            ),
        ]
        body = "\n\n".join(f"### {title}\n\n" + "\n".join(rows) for title, rows in sections)
        return head + "\n" + body + "\n"


def _size(count: int) -> str:
    if count == 0:
        return "-"
    if count < 1000:
        return "< 1 kB"
    if count >= 10**9:
        return f"{count / 1e9:.2f} GB"
    if count >= 10**6:
        return f"{count / 1e6:.1f} MB"
    return f"{count / 1e3:.0f} kB"
