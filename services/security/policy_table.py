"""The access policy as a Markdown table, for docs/security.md (a test keeps the two equal).

python -m services.security.policy_table
"""

from __future__ import annotations

from services.security.policy import rule_for
from services.security.policy_matrix import system_rpcs


def markdown() -> str:
    """One row per RPC: service, method, the token roles and the services allowed, audited."""
    lines = [
        "| service | RPC | token roles | services (certificate) | audited |",
        "|---|---|---|---|---|",
    ]
    for rpc in system_rpcs():
        rule = rule_for(rpc.full_name)
        roles = ", ".join(sorted(role.value for role in rule.roles)) or "-"
        services = ", ".join(sorted(rule.services)) or "-"
        audited = "yes" if rule.audit else ""
        lines.append(f"| {rpc.service} | `{rpc.method}` | {roles} | {services} | {audited} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
