"""Prometheus metrics: what iamd served, decided and how fast, in the text format ``/metrics`` answers.

The metrics (all prefixed ``iamd_``):

======================================== ========= ===========================================
name                                     type      labels
======================================== ========= ===========================================
requests_total                           counter   service, action, status
request_duration_seconds                 histogram service
authorization_decisions_total            counter   source (api, authorize, forward_auth), result
authorize_duration_seconds               histogram source
console_signins_total                    counter   result (success, failure), mfa (yes, no)
cache_lookups_total                      counter   cache (session_token, credentials, policies), result (hit, miss)
db_query_duration_seconds                histogram statement (select, insert, update, delete, other)
db_errors_total                          counter   statement
mfa_verifications_total                  counter   purpose, outcome        (iamd.core.counters)
mfa_lockouts_total                       counter   purpose                 (iamd.core.counters)
audit_events_written_total               counter                           (iamd.core.counters)
audit_events_dropped_total               counter                           (iamd.core.counters)
audit_sink_failures_total                counter   sink (database, file)   (iamd.core.counters)
======================================== ========= ===========================================

The counters the services already keep in :data:`iamd.core.counters.DEFAULT` are not duplicated:
:class:`CountersCollector` exposes them as they are.

**Several worker processes** (``iamd serve --workers N``) use prometheus-client's multiprocess
mode: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty private directory before the workers start
(``iamd serve`` does it under the data directory; see :func:`prepare_multiprocess_dir`).  Each
worker then writes its samples to memory-mapped files there and a scrape, whichever worker
answers it, adds up all workers' files.  Counters in :mod:`iamd.core.counters` live in each
process's memory, so in this mode a per-process thread (:func:`start_counter_sync`) copies their
increments into file-backed counters every few seconds; a scrape may lag them by that much.  With
one worker everything is read in-process at scrape time.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from iamd.core import counters

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

REGISTRY = CollectorRegistry(auto_describe=True)
"""iamd's own registry (not prometheus-client's global one)."""

REQUESTS = Counter("iamd_requests", "API requests answered", ["service", "action", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram(
    "iamd_request_duration_seconds",
    "Time to answer an API request, from its arrival to its response",
    ["service"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
DECISIONS = Counter(
    "iamd_authorization_decisions",
    "Authorization decisions: allow, explicit_deny, implicit_deny, unauthenticated",
    ["source", "result"],
    registry=REGISTRY,
)
AUTHORIZE_SECONDS = Histogram(
    "iamd_authorize_duration_seconds",
    "Server-side time of one authorization API or forward-auth decision",
    ["source"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SIGNINS = Counter("iamd_console_signins", "Console sign-in attempts", ["result", "mfa"], registry=REGISTRY)
DB_SECONDS = Histogram(
    "iamd_db_query_duration_seconds",
    "Time of one database statement",
    ["statement"],
    buckets=DB_BUCKETS,
    registry=REGISTRY,
)
DB_ERRORS = Counter("iamd_db_errors", "Database statements that failed", ["statement"], registry=REGISTRY)

DECISION_RESULTS = ("allow", "explicit_deny", "implicit_deny", "unauthenticated")
DECISION_SOURCES = ("api", "authorize", "forward_auth")


# -- recording ------------------------------------------------------------------------------------


def observe_request(service: str, action: str, status: int, seconds: float) -> None:
    """One API request answered (``service``/``action`` ``-`` when unknown)."""
    REQUESTS.labels(service=service or "-", action=action or "-", status=str(status)).inc()
    REQUEST_SECONDS.labels(service=service or "-").observe(seconds)


def count_decision(source: str, result: str) -> None:
    if source not in DECISION_SOURCES:
        raise ValueError(f"unknown decision source {source!r}")
    if result not in DECISION_RESULTS:
        raise ValueError(f"unknown decision result {result!r}")
    DECISIONS.labels(source=source, result=result).inc()


def observe_authorize(source: str, seconds: float) -> None:
    AUTHORIZE_SECONDS.labels(source=source).observe(seconds)


def count_signin(success: bool, mfa: bool) -> None:
    SIGNINS.labels(result="success" if success else "failure", mfa="yes" if mfa else "no").inc()


def count_cache(cache: str, hit: bool) -> None:
    """Kept in :mod:`iamd.core.counters` (the caches live below this module) and exposed from there."""
    counters.count_cache(cache, hit)


# -- database latency -------------------------------------------------------------------------------

_STATEMENTS = ("select", "insert", "update", "delete")


def _statement_kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].lower() if sql.strip() else ""
    return head if head in _STATEMENTS else "other"


def instrument_engine(engine: Any) -> None:
    """Time every statement ``engine`` runs (``iamd_db_query_duration_seconds``) and count failures."""
    from sqlalchemy import event

    if getattr(engine, "_iamd_instrumented", False):
        return
    engine._iamd_instrumented = True

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("iamd_query_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        started = conn.info.get("iamd_query_started")
        if started:
            DB_SECONDS.labels(statement=_statement_kind(statement)).observe(time.perf_counter() - started.pop())

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        conn = context.connection
        if conn is not None:
            started = conn.info.get("iamd_query_started")
            if started:
                started.pop()
        DB_ERRORS.labels(statement=_statement_kind(context.statement or "")).inc()


# -- the in-process counters (iamd.core.counters) ------------------------------------------------------


def _family_name(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


class CountersCollector(Collector):
    """Exposes a :class:`iamd.core.counters.Counters` registry as Prometheus counters."""

    def __init__(self, source: counters.Counters) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily] = {}
        labels_of: dict[str, tuple[str, ...]] = {}
        for (name, pairs), value in self._source.snapshot().items():
            label_names = tuple(k for k, _ in pairs)
            family = families.get(name)
            if family is None:
                family = CounterMetricFamily(_family_name(name), f"{name} (iamd.core.counters)", labels=label_names)
                families[name] = family
                labels_of[name] = label_names
            if labels_of[name] != label_names:
                continue  # one label set per name, as Prometheus requires
            family.add_metric([v for _, v in pairs], float(value))
        yield from families.values()


REGISTRY.register(CountersCollector(counters.DEFAULT))


# -- multiprocess mode -------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path or None


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty (or create, 0700) the directory for multiprocess mode and export it: call before workers start."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROC_ENV] = str(path)


class _CounterSync:
    """Copies increments of in-process counters into file-backed counters (multiprocess mode)."""

    def __init__(self, source: counters.Counters) -> None:
        self._source = source
        self._seen: dict[counters.CounterKey, int] = {}
        self._metrics: dict[tuple[str, tuple[str, ...]], Counter] = {}
        self._registry = CollectorRegistry()  # never scraped: the files are
        self._lock = threading.Lock()

    def sync(self) -> None:
        with self._lock:
            for key, value in self._source.snapshot().items():
                delta = value - self._seen.get(key, 0)
                if delta <= 0:
                    continue
                name, pairs = key
                label_names = tuple(k for k, _ in pairs)
                metric = self._metrics.get((name, label_names))
                if metric is None:
                    if any(n == name for n, _ in self._metrics):
                        continue  # another label set already holds this name
                    metric = Counter(
                        _family_name(name), f"{name} (iamd.core.counters)", label_names, registry=self._registry
                    )
                    self._metrics[(name, label_names)] = metric
                target = metric.labels(*[v for _, v in pairs]) if label_names else metric
                target.inc(delta)
                self._seen[key] = value


_SYNC = _CounterSync(counters.DEFAULT)
_sync_thread: threading.Thread | None = None


def sync_counters() -> None:
    """Copy new increments of :data:`iamd.core.counters.DEFAULT` to the multiprocess files now."""
    if multiprocess_dir() is not None:
        _SYNC.sync()


def start_counter_sync(interval: float = 5.0) -> None:
    """In multiprocess mode, copy the in-process counters to the files every ``interval`` seconds."""
    global _sync_thread
    if multiprocess_dir() is None or _sync_thread is not None:
        return

    def run() -> None:
        while True:
            time.sleep(interval)
            sync_counters()

    _sync_thread = threading.Thread(target=run, name="iamd-metrics-sync", daemon=True)
    _sync_thread.start()


# -- the endpoint -------------------------------------------------------------------------------------


def render() -> tuple[str, bytes]:
    """``(content_type, body)`` of a scrape: this process's registry, or every worker's files."""
    path = multiprocess_dir()
    if path is None:
        return CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
    sync_counters()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return CONTENT_TYPE_LATEST, generate_latest(registry)


def metric_names() -> Iterable[str]:
    """The names of every family iamd exports natively (for the dashboard's check)."""
    return [m.name for m in REGISTRY.collect()]
