"""What TLS and token checks cost on the query path: Retrieve p50/p99 secured against insecure.

Runs ``bench/retrieve_latency.py`` ``--pairs`` times with security on and off, alternating (so
drift in the machine's load hits both alike), and prints for each row (by id / by vector, 1 and
16 clients) the median over the runs of p50 and p99, and the ratio secured / insecure.

    .venv/bin/python bench/security_cost.py [--pairs 5] [--queries 800]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(insecure: bool, queries: int, archive: Path) -> dict[tuple[str, int], tuple[float, float]]:
    """(query kind, clients) -> (p50 ms, p99 ms) of the retrieval service rows of one run."""
    command = [sys.executable, str(HERE / "retrieve_latency.py"), "--queries", str(queries)]
    command += ["--archive", str(archive), *(["--insecure"] if insecure else [])]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "retrieval service":
            rows[(cells[1], int(cells[2]))] = (float(cells[4]), float(cells[5]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--queries", type=int, default=800)
    parser.add_argument("--archive", type=Path, default=Path("../shared/data/ucmerced"))
    args = parser.parse_args()
    seen: dict[bool, dict[tuple[str, int], list[tuple[float, float]]]] = {
        True: defaultdict(list),
        False: defaultdict(list),
    }
    for pair in range(args.pairs):
        for insecure in (pair % 2 == 0, pair % 2 == 1):
            for key, value in run(insecure, args.queries, args.archive).items():
                seen[insecure][key].append(value)
            print(
                f"run {pair + 1}/{args.pairs} {'insecure' if insecure else 'secured'} done",
                file=sys.stderr,
            )
    print(f"{args.pairs} runs each, {args.queries} queries per row, medians over the runs\n")
    print("| query | clients | insecure p50 / p99 ms | TLS + tokens p50 / p99 ms | p99 ratio |")
    print("|---|---|---|---|---|")
    for key in sorted(seen[False]):
        off = [statistics.median(v) for v in zip(*seen[True][key], strict=True)]
        on = [statistics.median(v) for v in zip(*seen[False][key], strict=True)]
        print(
            f"| {key[0]} | {key[1]} | {off[0]:.1f} / {off[1]:.1f} | {on[0]:.1f} / {on[1]:.1f}"
            f" | {on[1] / off[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
