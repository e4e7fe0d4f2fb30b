"""Background services run at a lower CPU priority than the services on the query path.

On a small machine, training a model (coordinator) or scoring candidate pairs (selection) can
take every core for seconds; the query path (retrieval, search) must keep getting CPU then.
A higher nice value gives a process a much smaller share when cores are contended (nice 10:
about a tenth of a nice-0 process's share) and costs nothing when they are idle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BACKGROUND_NICENESS = 10
"""Nice increment of the services off the query path (coordinator, selection)."""


def lower_priority(increment: int = BACKGROUND_NICENESS) -> int:
    """Add ``increment`` (0 to 19) to the nice value of every thread of this process.

    On Linux a nice value belongs to a thread (``os.nice`` changes only the calling one) and a
    new thread starts with the value of the thread that starts it, so the threads running now,
    such as BLAS pools started at import, are changed one by one and later threads inherit.
    Raising a nice value needs no privilege. Returns the calling thread's new nice value.
    """
    if not 0 <= increment <= 19:
        raise ValueError(f"nice increment must be between 0 and 19, got {increment}")
    if not sys.platform.startswith("linux"):
        return os.nice(increment)
    target = min(os.getpriority(os.PRIO_PROCESS, 0) + increment, 19)
    for task in Path("/proc/self/task").iterdir():
        try:
            tid = int(task.name)
            os.setpriority(os.PRIO_PROCESS, tid, max(target, os.getpriority(os.PRIO_PROCESS, tid)))
        except (ProcessLookupError, ValueError):  # the thread ended meanwhile
            continue
    return os.getpriority(os.PRIO_PROCESS, 0)
