"""Fuzz figures: many hostile requests per service, and how the six real services answered.

Starts the six services secured in this process as the fuzz suite does
(tests/services/fuzz_system.py: Milvus Lite, a local Ray pool, TLS and tokens, each RPC called by
a caller the policy admits) and sends ``--per-rpc`` requests to every RPC, drawn by Hypothesis
from the request descriptors (tests/fuzz_requests.py: well-typed messages with extreme values,
and malformed bytes). Prints a Markdown table per service: requests tried, codes returned,
INTERNAL/UNKNOWN replies (target 0), unclean messages (traceback, object repr, unbounded echo;
target 0) and crashes (a service no longer SERVING after its RPCs; target 0).

    .venv/bin/python bench/fuzz.py [--per-rpc 400] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "services")]

import grpc  # noqa: E402
from fuzz_requests import request_bytes, send  # noqa: E402
from fuzz_system import FuzzSystem  # noqa: E402
from grpc_health.v1 import health_pb2  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from services.common.catalog import SERVICES  # noqa: E402
from services.common.shown import is_clean  # noqa: E402
from services.security.policy_matrix import Rpc, system_rpcs  # noqa: E402

FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def fuzz_rpc(
    system: FuzzSystem, rpc: Rpc, count: int, seed_value: int
) -> tuple[Counter[str], list[str]]:
    """``count`` drawn calls of ``rpc``: codes by name, and the bad replies (forbidden/unclean)."""
    channel = system.channel_for(rpc)
    codes: Counter[str] = Counter()
    bad: list[str] = []

    @seed(seed_value)
    @settings(
        max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.data())
    def one_call(data: st.DataObject) -> None:
        outcome = send(channel, rpc, data.draw(request_bytes(rpc, system.hints)))
        codes[outcome.code.name] += 1
        if not is_clean(outcome.details):
            codes["unclean"] += 1
        if outcome.code in FORBIDDEN or not is_clean(outcome.details):
            bad.append(f"{rpc.method} {outcome.code.name}: {outcome.details[:200]}")

    one_call()
    return codes, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-rpc", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        system = FuzzSystem(Path(folder))
        print(f"system up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        per_service: dict[str, Counter[str]] = defaultdict(Counter)
        bad: dict[str, list[str]] = defaultdict(list)
        crashes: Counter[str] = Counter()
        try:
            for rpc in system_rpcs():
                began = time.perf_counter()
                codes, wrong = fuzz_rpc(system, rpc, args.per_rpc, args.seed)
                per_service[rpc.service].update(codes)
                codes.pop("unclean", None)
                bad[rpc.service].extend(wrong)
                if system.health(rpc.service) != health_pb2.HealthCheckResponse.SERVING:
                    crashes[rpc.service] += 1
                print(
                    f"{rpc.full_name}: {sum(codes.values())} calls in"
                    f" {time.perf_counter() - began:.1f}s {dict(codes)}",
                    file=sys.stderr,
                )
        finally:
            system.close()
    print("| service | requests | codes returned | INTERNAL/UNKNOWN | unclean messages | crashes |")
    print("|---|---|---|---|---|---|")
    for name in SERVICES:
        codes = per_service[name]
        unclean = codes.pop("unclean", 0)
        forbidden = sum(codes[code.name] for code in FORBIDDEN)
        shown = ", ".join(f"{code} {n}" for code, n in codes.most_common())
        print(
            f"| {name} | {sum(codes.values())} | {shown} | {forbidden} | {unclean} |"
            f" {crashes[name]} |"
        )
    for name in SERVICES:
        for line in bad[name][:20]:
            print(f"- {name}: {line}", file=sys.stderr)


if __name__ == "__main__":
    main()
