"""lower_priority: every thread of the process, and threads started later, run at the new nice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from services.common.priority import lower_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice")

SCRIPT = textwrap.dedent(
    """
    import os, threading
    from services.common.priority import lower_priority

    def nice_of_this_thread():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen = {}
    ready, done = threading.Event(), threading.Event()

    def before():  # started before the call: changed from outside
        ready.set()
        done.wait()
        seen["before"] = nice_of_this_thread()

    early = threading.Thread(target=before)
    early.start()
    ready.wait()
    start = os.getpriority(os.PRIO_PROCESS, 0)
    seen["main"] = lower_priority(3) - start
    late = threading.Thread(target=lambda: seen.update(after=nice_of_this_thread() - start))
    late.start()
    late.join()
    done.set()
    early.join()
    seen["before"] -= start
    print(seen["main"], seen["before"], seen["after"])
    """
)


def test_every_thread_and_later_threads_are_lowered() -> None:
    """Run in a child process: the nice value of this test process must not change."""
    start = os.getpriority(os.PRIO_PROCESS, 0)
    if start > 16:
        pytest.skip("already near the lowest priority")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["3", "3", "3"]


def test_increment_out_of_range() -> None:
    with pytest.raises(ValueError, match="between 0 and 19"):
        lower_priority(20)
