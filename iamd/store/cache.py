"""Node-local caches kept honest by the shared generation counter.

Every write transaction bumps ``generation.value``.  Each node re-reads that one row at most
every ``interval`` seconds (on the request path: a single-row primary-key read) and clears its
caches when it moved, so a change committed anywhere is seen everywhere within
``interval`` seconds plus one request.  Writes made by this node clear its caches at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from iamd.core.clock import Clock
from iamd.store.db import Database


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
