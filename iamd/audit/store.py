"""Writing audit records: a queue in memory, flushed in batches to the database (and a file) off the request path.

``AuditLog.record(event)`` only appends to a queue.  A background thread flushes the queue every
``flush_interval`` seconds (and ``close()`` flushes what is left): one transaction per batch
takes the chain lock, reads the chain's tip, links the batch (sequence numbers and hashes, see
:mod:`iamd.audit.chain`) and inserts it.  Then the batch goes to the optional JSONL file sink.

Failures never reach a request:

* the database does not answer: the batch goes back to the head of the queue and is retried at
  the next flush (the queue holds at most ``max_pending`` records; past that the oldest are
  dropped and counted in ``iamd_audit_events_dropped_total``);
* the file cannot be written: the records are in the database already; the lines wait in a
  bounded backlog for the next flush, each failure is counted in
  ``iamd_audit_sink_failures_total{sink="file"}`` and logged at most once per ``log_interval``.

Retention: :meth:`AuditLog.prune` deletes records older than a time, in chain order, and appends
a ``PruneAuditEvents`` record that names the anchor the chain now starts from, so that
verification tells a prune from a deletion.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.audit import names
from iamd.audit.chain import START, Anchor, ChainedRecord, ChainVerifier, VerifyReport, link
from iamd.audit.record import AuditEvent, RequestOrigin, service_event
from iamd.audit.sink import JsonlSink, chained_line
from iamd.core import counters
from iamd.core.clock import Clock, SystemClock
from iamd.core.config import Settings
from iamd.store import tables as t
from iamd.store.db import Database

log = logging.getLogger("iamd.audit")

CHAIN_LOCK_KEY = 726575
"""PostgreSQL advisory lock key that serialises appends to the chain."""

PRUNE_EVENT = "PruneAuditEvents"

EVENTS_WRITTEN = "iamd_audit_events_written_total"
EVENTS_DROPPED = "iamd_audit_events_dropped_total"
SINK_FAILURES = "iamd_audit_sink_failures_total"
"""Labels: ``sink`` = ``database`` | ``file``."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A record as written: its place in the chain and the event."""

    chained: ChainedRecord
    event: AuditEvent


def lock_chain(conn: Connection) -> None:
    """Serialise appends: an advisory transaction lock on PostgreSQL; SQLite writers hold the database lock."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})")


def read_tip(conn: Connection) -> Anchor:
    e = t.audit_events
    row = conn.execute(sa.select(e.c.seq, e.c.hash).order_by(e.c.seq.desc()).limit(1)).first()
    return START if row is None else Anchor(int(row.seq), str(row.hash))


def append(conn: Connection, events: Sequence[AuditEvent], tip: Anchor | None = None) -> list[StoredEvent]:
    """Link ``events`` after the chain's tip and insert them; the caller's transaction must be a write.

    ``tip``: the caller already holds the chain lock and read the tip (pruning)."""
    if not events:
        return []
    if tip is None:
        lock_chain(conn)
        tip = read_tip(conn)
    chained = link([e.record for e in events], tip)
    rows: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    for link_, event in zip(chained, events, strict=True):
        rows.append(
            {
                "seq": link_.sequence,
                "event_id": event.event_id,
                "event_time": event.time,
                "event_source": event.event_source,
                "event_name": event.event_name,
                "username": _clip(event.username, 256),
                "access_key_id": _clip(event.access_key_id, 128),
                "read_only": event.read_only,
                "error_code": _clip(event.error_code, 128),
                "account_id": event.account_id,
                "prev_hash": link_.previous_hash,
                "hash": link_.hash,
                "record": link_.text,
            }
        )
        for position, res in enumerate(event.resources):
            resources.append(
                {
                    "seq": link_.sequence,
                    "position": position,
                    "resource_type": res.type[:128],
                    "resource_name": res.name[:2048],
                    "resource_arn": res.arn[:2048] if res.arn else None,
                }
            )
    conn.execute(t.audit_events.insert(), rows)
    if resources:
        conn.execute(t.audit_event_resources.insert(), resources)
    return [StoredEvent(c, e) for c, e in zip(chained, events, strict=True)]


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


class AuditLog:
    """One process's audit writer (thread-safe); see the module documentation."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        file_sink: JsonlSink | None = None,
        flush_interval: float = 0.25,
        max_batch: int = 500,
        max_pending: int = 100_000,
        max_file_backlog: int = 100_000,
        log_interval: float = 60.0,
        metrics: counters.Counters | None = None,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        """False: records are dropped where they are made (``audit.enabled = false``)."""
        self._db = db
        self._clock: Clock = clock or SystemClock()
        self._sink = file_sink
        self._interval = flush_interval
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._max_backlog = max_file_backlog
        self._log_interval = log_interval
        self._metrics = metrics if metrics is not None else counters.DEFAULT
        self._pending: collections.deque[AuditEvent] = collections.deque()
        self._backlog: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    # -- the request path ---------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        """Queue a record (never blocks on I/O)."""
        if not self.enabled:
            return
        with self._lock:
            self._pending.append(event)
            overflow = len(self._pending) - self._max_pending
            for _ in range(max(0, overflow)):
                self._pending.popleft()
        if overflow > 0:
            self._metrics.increment(EVENTS_DROPPED, overflow)
            self._complain("queue", f"the audit queue is full: {overflow} oldest record(s) dropped")

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or not self.enabled:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="iamd-audit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the writer alive whatever happens; the batch was put back
                log.exception("audit flush failed")

    def close(self) -> None:
        """Stop the thread and write everything still queued (shutdown)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join()
        while self._pending:
            if self.flush() == 0:
                break
        with self._flush_lock:
            self._write_file([])  # a last try for lines the file sink could not take

    # -- flushing -------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write one batch; the number of records written (0 when none, or the database failed)."""
        with self._flush_lock:
            with self._lock:
                batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
            if not batch:
                self._write_file([])
                return 0
            try:
                with self._db.engine.connect().execution_options(iamd_write=True) as conn, conn.begin():
                    stored = append(conn, batch)
            except sa.exc.SQLAlchemyError as exc:
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                self._metrics.increment(SINK_FAILURES, sink="database")
                self._complain(
                    "database", f"cannot write audit records to the database ({type(exc).__name__}); will retry"
                )
                return 0
            self._metrics.increment(EVENTS_WRITTEN, len(stored))
            self._write_file([chained_line(s.chained) for s in stored])
            return len(stored)

    def _write_file(self, lines: list[str]) -> None:
        if self._sink is None:
            return
        self._backlog.extend(lines)
        overflow = len(self._backlog) - self._max_backlog
        for _ in range(max(0, overflow)):
            self._backlog.popleft()
        if not self._backlog:
            return
        waiting = list(self._backlog)
        try:
            self._sink.write(waiting)
        except OSError as exc:
            self._metrics.increment(SINK_FAILURES, sink="file")
            self._complain(
                "file",
                f"cannot write the audit file in {self._sink.directory} ({exc.strerror or exc}); "
                f"{len(waiting)} record(s) wait for the next try, all are in the database",
            )
            return
        for _ in waiting:
            self._backlog.popleft()

    def _complain(self, what: str, message: str) -> None:
        """Log a failure at most once per ``log_interval`` per kind, with how many were not logged."""
        now = time.monotonic()
        last = self._last_logged.get(what)
        if last is not None and now - last < self._log_interval:
            self._unlogged[what] = self._unlogged.get(what, 0) + 1
            return
        self._last_logged[what] = now
        repeats = self._unlogged.pop(what, 0)
        suffix = f" ({repeats} more failure(s) since the last message)" if repeats else ""
        log.warning("%s%s", message, suffix)

    # -- retention ------------------------------------------------------------------------------

    def prune(self, older_than: float, region: str = "us-east-1") -> int:
        """Delete records older than ``older_than`` (epoch seconds); the number deleted.

        Deletes a prefix of the chain (up to the last record before the first one that is not
        old enough) and appends a ``PruneAuditEvents`` record naming the new starting anchor.
        """
        with self._db.engine.connect().execution_options(iamd_write=True) as conn, conn.begin():
            return prune(conn, older_than, self._clock.time(), region)


def prune(conn: Connection, older_than: float, now: float, region: str = "us-east-1") -> int:
    e, r = t.audit_events, t.audit_event_resources
    lock_chain(conn)
    tip = read_tip(conn)
    if tip.sequence == 0:
        return 0
    first_kept = conn.execute(sa.select(sa.func.min(e.c.seq)).where(e.c.event_time >= older_than)).scalar()
    through = tip.sequence if first_kept is None else int(first_kept) - 1
    lowest = conn.execute(sa.select(sa.func.min(e.c.seq))).scalar()
    if lowest is None or through < int(lowest):
        return 0
    anchor_hash = conn.execute(sa.select(e.c.hash).where(e.c.seq == through)).scalar_one()
    conn.execute(r.delete().where(r.c.seq <= through))
    deleted = conn.execute(e.delete().where(e.c.seq <= through)).rowcount
    marker = service_event(
        RequestOrigin(time=now, region=region, source_ip=names.IAMD_SOURCE, user_agent=names.IAMD_SOURCE),
        name=PRUNE_EVENT,
        account_id=None,
        details={"olderThan": _iso(older_than), "deletedRecords": deleted},
        additional={"prunedThroughSequence": through, "prunedThroughHash": str(anchor_hash)},
    )
    append(conn, [marker], tip)
    log.info("audit: pruned %d record(s) older than %s (through sequence %d)", deleted, _iso(older_than), through)
    return int(deleted)


def _iso(ts: float) -> str:
    from iamd.audit.record import iso_time

    return iso_time(ts)


# -- reading the chain back -----------------------------------------------------------------------


def iter_chain(conn: Connection, batch_size: int = 5000) -> Iterator[list[ChainedRecord]]:
    """The stored chain in sequence order, in batches."""
    e = t.audit_events
    after = -1
    while True:
        rows = conn.execute(
            sa.select(e.c.seq, e.c.prev_hash, e.c.hash, e.c.record)
            .where(e.c.seq > after)
            .order_by(e.c.seq)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        yield [ChainedRecord(int(r.seq), str(r.prev_hash), str(r.hash), str(r.record)) for r in rows]
        after = int(rows[-1].seq)


def start_anchor(conn: Connection) -> Anchor:
    """Where the stored chain starts: the anchor of the latest prune, or the beginning."""
    e = t.audit_events
    row = conn.execute(
        sa.select(e.c.record)
        .where(e.c.event_name == PRUNE_EVENT, e.c.event_source == names.IAMD_SOURCE)
        .order_by(e.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return START
    import json

    data = json.loads(row.record).get("additionalEventData") or {}
    try:
        return Anchor(int(data["prunedThroughSequence"]), str(data["prunedThroughHash"]))
    except (KeyError, TypeError, ValueError):
        return START


def verify_store(db: Database, expected_head: Anchor | None = None, batch_size: int = 5000) -> VerifyReport:
    """Verify the chain stored in the database (in sequence order, batch by batch)."""
    with db.read() as conn:
        verifier = ChainVerifier(start_anchor(conn))
        for batch in iter_chain(conn, batch_size):
            verifier.feed(batch)
    return verifier.finish(expected_head)


def audit_log(settings: Settings, db: Database, clock: Clock) -> AuditLog:
    """The node's audit writer as the settings say (``audit.*``); its thread starts with :meth:`AuditLog.start`."""
    s = settings.audit
    sink = None
    if s.file_dir is not None:
        sink = JsonlSink(s.file_dir, max_bytes=s.file_max_bytes, max_age=s.file_max_age_seconds, clock=clock)
    return AuditLog(db, clock=clock, file_sink=sink, flush_interval=s.flush_interval_seconds, enabled=s.enabled)
