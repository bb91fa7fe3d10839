"""Named, labelled event counters kept in the process (what a future ``/metrics`` endpoint exposes).

A counter is a name plus a set of label values, Prometheus style::

    counters.increment("iamd_mfa_lockouts_total", purpose="sts")
    counters.value("iamd_mfa_lockouts_total", purpose="sts")  # -> 1

Counters only go up and live as long as the process: every node (and every worker process)
counts what it saw itself, as Prometheus counters do; the scraper adds them up.  Durable,
cross-node records belong in the database (e.g. ``mfa_events``).

:data:`DEFAULT` is the process-wide registry the services count into, as
``prometheus_client.REGISTRY`` is; code that wants its own (tests) passes a :class:`Counters`.
Label values must never hold secrets (codes, tokens, keys).
"""

from __future__ import annotations

import re
import threading

__all__ = ["DEFAULT", "CounterKey", "Counters"]

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

CounterKey = tuple[str, tuple[tuple[str, str], ...]]
"""A counter's name and its (label, value) pairs sorted by label."""


class Counters:
    """A thread-safe registry of monotonically increasing counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[CounterKey, int] = {}

    @staticmethod
    def _key(name: str, labels: dict[str, str]) -> CounterKey:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"invalid counter name {name!r}")
        for label in labels:
            if not _LABEL_RE.fullmatch(label):
                raise ValueError(f"invalid label name {label!r} on counter {name}")
        return name, tuple(sorted(labels.items()))

    def increment(self, name: str, amount: int = 1, **labels: str) -> None:
        """Add ``amount`` (at least 0) to the counter ``name`` with these label values."""
        if amount < 0:
            raise ValueError(f"counter {name} cannot go down (amount {amount})")
        key = self._key(name, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> int:
        """The counter's current value (0 if it was never incremented)."""
        key = self._key(name, labels)
        with self._lock:
            return self._values.get(key, 0)

    def snapshot(self) -> dict[CounterKey, int]:
        """Every counter at one instant, sorted by name then labels."""
        with self._lock:
            return dict(sorted(self._values.items()))


DEFAULT = Counters()
"""The process-wide registry."""


CACHE_LOOKUPS = "iamd_cache_lookups_total"


def count_cache(cache: str, hit: bool) -> None:
    """A lookup in one of the node's caches (``session_token``, ``credentials``, ``policies``)."""
    DEFAULT.increment(CACHE_LOOKUPS, cache=cache, result="hit" if hit else "miss")
