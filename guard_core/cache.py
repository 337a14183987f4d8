"""A bounded LRU of parsed guard answers, keyed on model + policy version + request.

A hit skips the backend entirely and costs microseconds. Only successful answers are
cached; errors are always retried.

>>> cache = VerdictCache(maxsize=2)
>>> cache.put(("m", "v1", "req"), "answer"); cache.get(("m", "v1", "req"))
'answer'
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from guard_core.errors import ConfigurationError

__all__ = ["CacheKey", "VerdictCache"]

CacheKey = tuple[str, str, str]
V = TypeVar("V")


class VerdictCache(Generic[V]):
    """Thread-safe LRU. ``maxsize=0`` disables it."""

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 0:
            raise ConfigurationError(f"cache maxsize={maxsize!r}: give 0 (no cache) or more")
        self.maxsize = maxsize
        self._data: OrderedDict[CacheKey, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: CacheKey, value: V) -> None:
        if self.maxsize == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"VerdictCache(size={len(self)}, maxsize={self.maxsize}, hits={self.hits})"
