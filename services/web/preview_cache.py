"""The byte-bounded LRU cache of rendered previews, and its hit/miss counts.

Its own module because it is a concept of its own: it knows nothing of files or rendering
(``services.web.image_preview`` decides the key and makes the previews), only of entry counts,
byte sizes and recency, so it is generic over what it holds: anything with ``data`` bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

PreviewKey = tuple[str, int, int, int]
"""A cached preview's key: image id, preview size, file mtime_ns, file byte size."""


class _HasData(Protocol):
    @property
    def data(self) -> bytes: ...


P = TypeVar("P", bound=_HasData)


@dataclass(frozen=True)
class CacheStats:
    """Lookups answered from the cache (hits) or rendered (misses), and what it holds now."""

    hits: int
    misses: int
    entries: int
    bytes: int


class PreviewCache(Generic[P]):
    """A thread-safe LRU cache of previews bounded by entry count and by total bytes.

    Not ``functools.lru_cache``: that bounds the number of entries only, and previews range
    from a 2 KB thumbnail to a few MB for a 2048-pixel scene, so a count alone does not bound
    memory. Its key would also have to carry the file's identity, which ``render`` only knows
    after a stat. A preview larger than ``max_bytes`` is returned but not kept.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("max_entries and max_bytes must be at least 0 (0: no cache)")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[PreviewKey, P] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: PreviewKey) -> P | None:
        with self._lock:
            preview = self._entries.get(key)
            if preview is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return preview

    def put(self, key: PreviewKey, preview: P) -> None:
        size = len(preview.data)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            if size > self._max_bytes or self._max_entries == 0:
                return
            self._entries[key] = preview
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.data)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._bytes)
