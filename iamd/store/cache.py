"""Node-local caches kept honest by the shared generation counter.

Every write transaction bumps ``generation.value``.  Each node re-reads that one row at most
every ``interval`` seconds (on the request path: a single-row primary-key read) and clears its
caches when it moved, so a change committed anywhere is seen everywhere within
``interval`` seconds plus one request.  Writes made by this node clear its caches at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from iamd.core import counters
from iamd.core.clock import Clock
from iamd.store.db import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """A node-local map of values loaded from the store, cleared when the generation moves.

    Each load carries the cache generation it started at (``clear()`` advances it).  A load that
    raced a clear (a write committed, or the watcher saw another node's, while it was reading)
    is returned to its caller but never stored: it may hold what the write replaced, and
    storing it would serve that as fresh until the next change.
    """

    def __init__(self, max_entries: int = 50_000, *, metric: str | None = None) -> None:
        self._metric = metric
        """Counted as ``iamd_cache_lookups_total{cache=metric}`` when set."""
        self._entries: dict[K, V] = {}
        self._max = max_entries
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        entries = self._entries
        found = key in entries
        if self._metric is not None:
            counters.count_cache(self._metric, found)
        if found:
            return entries[key]
        loaded_at = self._generation  # read before the load starts: a clear after it is seen below
        value = load()
        self.store(key, value, loaded_at)
        return value

    def store(self, key: K, value: V, loaded_at: int) -> bool:
        """Keep ``value`` if no clear happened since generation ``loaded_at``; whether it was kept."""
        with self._lock:
            if self._generation != loaded_at:
                return False
            if len(self._entries) >= self._max:
                self._entries = {}
            self._entries[key] = value
            return True


class GenerationWatcher:
    def __init__(self, db: Database, clock: Clock, interval: float) -> None:
        self._db = db
        self._clock = clock
        self._interval = interval
        self._seen = -1
        self._checked_at = float("-inf")
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, clear: Callable[[], None]) -> None:
        self._listeners.append(clear)

    def invalidate(self) -> None:
        """This node wrote: drop caches now and re-read the generation on the next request."""
        self._checked_at = float("-inf")
        self._clear()

    def refresh_if_due(self) -> None:
        now = self._clock.time()
        if now - self._checked_at < self._interval:
            return
        with self._lock:
            if now - self._checked_at < self._interval:
                return
            current = self._db.current_generation()
            self._checked_at = now
            if current != self._seen:
                self._seen = current
                self._clear()

    def _clear(self) -> None:
        for clear in self._listeners:
            clear()
