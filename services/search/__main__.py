"""``python -m services.search``: the vector search service (settings: docs/architecture.md)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

from threadpoolctl import threadpool_limits

from services.common.catalog import SERVICES
from services.common.runner import run_service
from services.search.batcher import SearchBatcher
from services.search.index_manager import IndexManager
from services.search.metrics import COLLECTORS
from services.search.server import create_server
from services.search.settings import SearchSettings

LITE_SWITCH_INTERVAL_S = 0.001


def main(argv: Sequence[str] | None = None) -> None:
    spec = SERVICES["search"]
    settings = SearchSettings.read(argv)
    milvus = settings.milvus
    if milvus.is_lite:
        # Milvus Lite 3 runs inside this process and searches FLAT with numpy. Its BLAS threads
        # spin on the other cores and make no search faster (2 cores, 2,100 x 128, 16 queries:
        # 11-13 ms either way, 22 ms of CPU with 2 threads, 13 ms with 1): with one, that CPU
        # is left to the query path (gRPC handling here and in retrieval).
        threadpool_limits(limits=1, user_api="blas")
        # Its inserts, flushes and index builds are Python too and hold the interpreter lock in
        # long stretches while queries wait for it; handing the lock over every 1 ms (Python's
        # default: 5 ms) cut a lone client's p99 during back-to-back rebuilds from 5.5x to 3.1x
        # idle (docs/BENCHMARKS.md, issue 11).
        sys.setswitchinterval(LITE_SWITCH_INTERVAL_S)
    config = settings.index_config()
    manager = IndexManager.open(milvus.uri, config, token=milvus.token())
    # What start-up made (modules, Milvus Lite's tables) lives as long as the process; frozen,
    # full collections skip it: they took 75-90 ms in the middle of queries, now about 3 ms.
    gc.freeze()
    batcher = SearchBatcher(manager.search, max_wait_s=settings.batch_wait_ms / 1000)
    try:
        run_service(
            spec,
            settings,
            lambda address, security: create_server(address, manager, batcher, security=security),
            COLLECTORS,
        )
    finally:
        batcher.close()
        manager.close(timeout_s=10)


if __name__ == "__main__":
    main(sys.argv[1:])
