"""How much of the API the access policy covers, and how many refusal cases the tests make.

Reads the proto descriptors and services/security/policy.py (no servers). Every row of the
matrix is one call that tests/services/test_access_matrix.py makes against a real TLS server.

    .venv/bin/python bench/policy_coverage.py
"""

from __future__ import annotations

from collections import Counter

from services.common.catalog import SERVICES
from services.security.policy import POLICY
from services.security.policy_matrix import Verdict, matrix, system_rpcs


def main() -> None:
    rpcs = system_rpcs()
    cases = list(matrix())
    print(
        "| service | RPCs | in the policy | calls tested | allowed | UNAUTHENTICATED"
        " | PERMISSION_DENIED |"
    )
    print("|---|---|---|---|---|---|---|")
    total: Counter[str] = Counter()
    for name in SERVICES:
        mine = [r for r in rpcs if r.service == name]
        verdicts = Counter(v for rpc, _caller, v in cases if rpc.service == name)
        covered = sum(1 for r in mine if r.full_name in POLICY)
        row = Counter(
            rpcs=len(mine),
            covered=covered,
            calls=sum(verdicts.values()),
            allowed=verdicts[Verdict.ALLOWED],
            unauthenticated=verdicts[Verdict.UNAUTHENTICATED],
            denied=verdicts[Verdict.DENIED],
        )
        total.update(row)
        print(
            f"| {name} | {row['rpcs']} | {row['covered']} | {row['calls']} | {row['allowed']}"
            f" | {row['unauthenticated']} | {row['denied']} |"
        )
    share = 100 * total["covered"] / total["rpcs"]
    print(
        f"| **all** | {total['rpcs']} | {total['covered']} ({share:.0f}%) | {total['calls']}"
        f" | {total['allowed']} | {total['unauthenticated']} | {total['denied']} |"
    )


if __name__ == "__main__":
    main()
