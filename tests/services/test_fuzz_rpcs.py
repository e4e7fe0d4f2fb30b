"""Fuzz every RPC of every service on real, secured servers: hostile input gets a clean refusal.

RPCs come from the proto descriptors (services/security/policy_matrix.py), so a new RPC is fuzzed
without anyone listing it. Each is called by a caller the policy admits, with well-typed messages
drawn from its request descriptor and with malformed bytes (tests/fuzz_requests.py). For every
call: the code is never INTERNAL or UNKNOWN, the message carries no traceback, object repr or
unbounded echo, and a refused call leaves the stored state as it was; after each RPC's examples
the service still answers health with SERVING.

The default run draws a few examples per RPC (derandomized, so it is the same run every time);
``-m slow`` runs many more with fresh randomness.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from fuzz_requests import request_bytes, send
from fuzz_system import FuzzSystem
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.shown import MAX_MESSAGE_CHARS, is_clean
from services.security.policy_matrix import Rpc, system_rpcs

pytestmark = pytest.mark.integration

RPCS = system_rpcs()
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
QUICK_EXAMPLES = 25
LONG_EXAMPLES = 300


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzSystem]:
    built = FuzzSystem(Path(tmp_path_factory.mktemp("fuzz")))
    yield built
    built.close()


def fuzz(system: FuzzSystem, rpc: Rpc, examples: int, derandomize: bool) -> None:
    channel = system.channel_for(rpc)

    @settings(
        max_examples=examples,
        derandomize=derandomize,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one_call(data: st.DataObject) -> None:
        messages = data.draw(request_bytes(rpc, system.hints), label="request")
        before = system.snapshot()
        outcome = send(channel, rpc, messages)
        assert outcome.code not in FORBIDDEN, f"{outcome.code.name}: {outcome.details}"
        assert is_clean(outcome.details), outcome.details
        assert len(outcome.details) <= MAX_MESSAGE_CHARS
        if outcome.code is not grpc.StatusCode.OK:
            assert system.snapshot() == before, f"refused {outcome.code.name} changed state"

    one_call()
    assert system.health(rpc.service) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("rpc", RPCS, ids=[r.full_name.lstrip("/") for r in RPCS])
def test_fuzzed_calls_get_clean_refusals(system: FuzzSystem, rpc: Rpc) -> None:
    fuzz(system, rpc, QUICK_EXAMPLES, derandomize=True)


@pytest.mark.slow
@pytest.mark.parametrize("rpc", RPCS, ids=[r.full_name.lstrip("/") for r in RPCS])
def test_long_fuzz_gets_clean_refusals(system: FuzzSystem, rpc: Rpc) -> None:
    fuzz(system, rpc, LONG_EXAMPLES, derandomize=False)
