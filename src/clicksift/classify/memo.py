"""Per-value caches for the analyzers: thousands of requests share a few hundred user agents
and a few thousand addresses."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Memoized(Generic[T]):
    """Remembers :meth:`_analyse` per value; the cache is emptied when it reaches its size.

    A dictionary lookup per hit, and no reference back to the analyzer (a
    ``functools.lru_cache`` of a bound method would make a reference cycle, and batches run
    with the cycle collector paused)."""

    def __init__(self, cache_size: int) -> None:
        self._cache: dict[str, T] = {}
        self._cache_size = cache_size

    def analyse(self, value: str) -> T:
        info = self._cache.get(value)
        if info is None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            info = self._cache[value] = self._analyse(value)
        return info

    def warm_up(self) -> None:
        """Load what the libraries behind :meth:`_analyse` load on first use, so that the
        first request does not wait for it; nothing is remembered."""

    def _analyse(self, value: str) -> T:
        raise NotImplementedError
