"""Storage faults injected into a real Milvus client (Lite or server) for the search layer's tests.

:class:`FaultyMilvusClient` is a :class:`pymilvus.MilvusClient` that talks to a real Milvus;
before a chosen step (``load_collection``, ``create_index``...) on a chosen collection it runs an
injected fault: raise as Milvus would, or stop the server so that the real call then fails.
Everything else is the real client's work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

Fault = Callable[[str], None]


def milvus_error(step: str) -> Fault:
    """A fault that raises what pymilvus raises for a failed call."""

    def fail(collection: str) -> None:
        raise MilvusException(message=f"injected fault: {step} of {collection} failed")

    return fail


@dataclass
class _Injected:
    collection: str
    fault: Fault
    times: int
    ran: int = 0


class FaultyMilvusClient(MilvusClient):
    """A real client; :meth:`inject` makes a step on one collection fault ``times`` times."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._faults: dict[str, _Injected] = {}

    def inject(self, step: str, collection: str, fault: Fault, times: int = 1_000) -> None:
        self._faults[step] = _Injected(collection, fault, times)

    def faults_run(self, step: str) -> int:
        """How often the fault injected into ``step`` has run."""
        return self._faults[step].ran

    def clear(self) -> None:
        self._faults.clear()

    def _before(self, step: str, collection: str) -> None:
        injected = self._faults.get(step)
        if injected and injected.collection == collection and injected.ran < injected.times:
            injected.ran += 1
            injected.fault(collection)

    def create_collection(self, collection_name: str, *args: Any, **kw: Any):
        self._before("create_collection", collection_name)
        return super().create_collection(collection_name, *args, **kw)

    def load_collection(self, collection_name: str, timeout: float | None = None, **kw: Any):
        self._before("load_collection", collection_name)
        return super().load_collection(collection_name, timeout=timeout, **kw)

    def create_index(
        self, collection_name: str, index_params: Any, timeout: float | None = None, **kw: Any
    ):
        self._before("create_index", collection_name)
        return super().create_index(collection_name, index_params, timeout=timeout, **kw)

    def flush(self, collection_name: str, timeout: float | None = None, **kw: Any):
        self._before("flush", collection_name)
        return super().flush(collection_name, timeout=timeout, **kw)
