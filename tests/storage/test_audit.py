"""The audit trail in the database, on SQLite and PostgreSQL: writing, chaining, tampering, pruning, lookup."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from iamd.audit import record as rec
from iamd.audit.chain import Anchor, FindingKind, verify
from iamd.audit.errors import (
    InvalidLookupAttributesException,
    InvalidMaxResultsException,
    InvalidNextTokenException,
    InvalidTimeRangeException,
)
from iamd.audit.lookup import LookupQuery, activity, json_lines, lookup, table
from iamd.audit.names import Resource
from iamd.audit.sink import JsonlSink, read_chain
from iamd.audit.store import EVENTS_DROPPED, SINK_FAILURES, AuditLog, iter_chain, prune, verify_store
from iamd.core.clock import FixedClock
from iamd.core.config import Settings
from iamd.core.counters import Counters
from iamd.core.principal import Principal, PrincipalKind
from iamd.store import tables as t
from iamd.store.db import Database, alembic_config

ACCOUNT = "111122223333"
OTHER = "444455556666"
T0 = 1_800_000_000.0


def _principal(name: str, account: str = ACCOUNT) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        account_id=account,
        arn=f"arn:aws:iam::{account}:user/{name}",
        user_id=f"AIDA{name.upper()}",
        name=name,
        access_key_id=f"AKIA{name.upper()}",
    )


def _event(
    when: float, operation: str = "CreateUser", user: str = "alice", target: str = "bob", **kw: object
) -> rec.AuditEvent:
    origin = rec.RequestOrigin(time=when, region="us-east-1", source_ip="192.0.2.1", user_agent="test", request_id="r")
    principal = _principal(user, str(kw.pop("account", ACCOUNT)))
    return rec.api_call("iam", operation, rec.identity_of(principal), origin, request={"UserName": target}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def db(store_settings: Settings) -> Iterator[Database]:
    database = Database(store_settings.store.effective_database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def metrics() -> Counters:
    return Counters()


def _write(db: Database, events: list[rec.AuditEvent], metrics: Counters | None = None) -> None:
    audit = AuditLog(db, metrics=metrics or Counters())
    for event in events:
        audit.record(event)
    audit.close()


def test_records_are_written_in_one_chain_and_verify(db: Database, metrics: Counters) -> None:
    audit = AuditLog(db, max_batch=3, metrics=metrics)
    events = [_event(T0 + i) for i in range(8)]
    for event in events:
        audit.record(event)
    assert audit.pending == 8
    assert audit.flush() == 3
    audit.close()
    assert audit.pending == 0
    assert metrics.value("iamd_audit_events_written_total") == 8
    with db.read() as conn:
        rows = conn.execute(sa.select(t.audit_events).order_by(t.audit_events.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, 9))
    assert [r.event_id for r in rows] == [e.event_id for e in events]
    assert json.loads(rows[0].record) == events[0].record
    assert rows[0].username == "alice" and rows[0].access_key_id == "AKIAALICE" and rows[0].read_only is False
    report = verify_store(db)
    assert report.ok and report.checked == 8 and report.head == Anchor(8, rows[-1].hash)


def test_the_background_thread_flushes_and_close_drains(db: Database) -> None:
    audit = AuditLog(db, flush_interval=0.01)
    audit.start()
    for i in range(50):
        audit.record(_event(T0 + i))
    audit.close()
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.audit_events)).scalar() == 50
    assert verify_store(db).ok


def test_concurrent_writers_share_one_valid_chain(store_settings: Settings, db: Database) -> None:
    """Two nodes (own engines), each with a writer thread, append at once: one gapless chain."""
    nodes = [Database(store_settings.store.effective_database_url) for _ in range(2)]
    try:
        logs = [AuditLog(node, max_batch=7) for node in nodes]
        barrier = threading.Barrier(4)

        def work(audit: AuditLog, base: int) -> None:
            barrier.wait()
            for i in range(40):
                audit.record(_event(T0 + base + i))
                if i % 5 == 0:
                    audit.flush()
            audit.flush()

        threads = [threading.Thread(target=work, args=(logs[i % 2], i * 100)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for audit in logs:
            audit.close()
    finally:
        for node in nodes:
            node.dispose()
    with db.read() as conn:
        seqs = list(conn.execute(sa.select(t.audit_events.c.seq).order_by(t.audit_events.c.seq)).scalars())
    assert seqs == list(range(1, 161))
    assert verify_store(db).ok


def test_tampering_in_the_database_is_found(db: Database) -> None:
    _write(db, [_event(T0 + i) for i in range(10)])
    e = t.audit_events
    with db.engine.begin() as conn:
        record = json.loads(conn.execute(sa.select(e.c.record).where(e.c.seq == 4)).scalar_one())
        record["requestParameters"]["userName"] = "mallory"
        conn.execute(e.update().where(e.c.seq == 4).values(record=json.dumps(record)))
        conn.execute(e.delete().where(e.c.seq.in_([7, 8])))
    report = verify_store(db, batch_size=3)
    assert [(f.kind, f.sequence, f.last_sequence) for f in report.findings] == [
        (FindingKind.ALTERED, 4, None),
        (FindingKind.DELETED, 7, 8),
    ]


def test_a_cut_off_end_is_found_with_a_kept_head(db: Database) -> None:
    _write(db, [_event(T0 + i) for i in range(5)])
    head = verify_store(db).head
    assert head is not None
    with db.engine.begin() as conn:
        conn.execute(t.audit_events.delete().where(t.audit_events.c.seq == 5))
    assert verify_store(db).ok
    report = verify_store(db, expected_head=head)
    assert [(f.kind, f.sequence) for f in report.findings] == [(FindingKind.DELETED, 5)]


def test_a_database_failure_keeps_the_records_for_the_next_flush(
    db: Database, metrics: Counters, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import iamd.audit.store as store

    audit = AuditLog(db, metrics=metrics)
    audit.record(_event(T0))
    audit.record(_event(T0 + 1))
    real_append = store.append

    def down(conn: sa.Connection, events: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(store, "append", down)
    with caplog.at_level(logging.WARNING, logger="iamd.audit"):
        assert audit.flush() == 0
        assert audit.flush() == 0
    assert audit.pending == 2
    assert metrics.value(SINK_FAILURES, sink="database") == 2
    assert sum("cannot write audit records to the database" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.setattr(store, "append", real_append)
    assert audit.flush() == 2
    assert verify_store(db).checked == 2


def test_a_full_queue_drops_the_oldest_and_counts(db: Database, metrics: Counters) -> None:
    audit = AuditLog(db, max_pending=3, metrics=metrics)
    events = [_event(T0 + i) for i in range(5)]
    for event in events:
        audit.record(event)
    assert metrics.value(EVENTS_DROPPED) == 2
    audit.close()
    with db.read() as conn:
        kept = list(conn.execute(sa.select(t.audit_events.c.event_id).order_by(t.audit_events.c.seq)).scalars())
    assert kept == [e.event_id for e in events[2:]]


# -- the JSONL file sink ---------------------------------------------------------------------------


def test_the_file_sink_writes_private_verifiable_files(db: Database, tmp_path: Path) -> None:
    clock = FixedClock(T0)
    sink = JsonlSink(tmp_path / "audit", max_bytes=3000, max_age=3600, clock=clock)
    audit = AuditLog(db, file_sink=sink)
    for i in range(6):
        audit.record(_event(T0 + i))
        audit.flush()
    clock.advance(3600)  # the age limit rotates too
    audit.record(_event(T0 + 10))
    audit.close()
    files = sink.files()
    assert len(files) >= 3
    assert stat.S_IMODE((tmp_path / "audit").stat().st_mode) == 0o700
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_size <= 3000 + 2000
    chained = list(read_chain(files))
    assert [c.sequence for c in chained] == list(range(1, 8))
    with db.read() as conn:
        stored = [c for batch in iter_chain(conn) for c in batch]
    assert [(c.sequence, c.hash) for c in chained] == [(c.sequence, c.hash) for c in stored]
    assert verify(chained).ok
    # the file copy is the anchor that catches records cut off the database's end
    head = verify(chained).head
    with db.engine.begin() as conn:
        conn.execute(t.audit_events.delete().where(t.audit_events.c.seq >= 6))
    assert not verify_store(db, expected_head=head).ok


def test_an_unwritable_audit_file_never_stops_the_database_records(
    db: Database, tmp_path: Path, metrics: Counters, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    sink = JsonlSink(blocker / "audit")
    audit = AuditLog(db, file_sink=sink, metrics=metrics, log_interval=3600)
    with caplog.at_level(logging.WARNING, logger="iamd.audit"):
        for i in range(3):
            audit.record(_event(T0 + i))
            assert audit.flush() == 1
    assert metrics.value(SINK_FAILURES, sink="file") == 3
    messages = [r.getMessage() for r in caplog.records if "cannot write the audit file" in r.getMessage()]
    assert len(messages) == 1 and "all are in the database" in messages[0]
    assert verify_store(db).checked == 3
    # once the directory can be written, the waiting lines go out
    blocker.unlink()
    audit.close()
    assert [c.sequence for c in read_chain(sink.files())] == [1, 2, 3]


def test_files_of_several_writers_merge_by_sequence(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path)
    from iamd.audit.chain import START, link
    from iamd.audit.sink import chained_line

    chained = link([{"eventID": str(i)} for i in range(4)], START)
    sink.write([chained_line(chained[2]), chained_line(chained[3])])
    sink.write([chained_line(chained[0]), chained_line(chained[1])])
    assert verify(list(read_chain(sink.files()))).ok
    (tmp_path / sink.files()[0].name).write_text("garbage\n")
    with pytest.raises(ValueError, match=r":1: not an audit record"):
        list(read_chain(sink.files()))


# -- retention --------------------------------------------------------------------------------------


def test_pruning_keeps_a_verifiable_chain(db: Database) -> None:
    _write(db, [_event(T0 + i * 100) for i in range(10)])
    audit = AuditLog(db, clock=FixedClock(T0 + 5000))
    assert audit.prune(T0 + 450) == 5
    with db.read() as conn:
        rows = conn.execute(
            sa.select(t.audit_events.c.seq, t.audit_events.c.event_name).order_by(t.audit_events.c.seq)
        ).all()
    assert [r.seq for r in rows] == [6, 7, 8, 9, 10, 11]
    assert rows[-1].event_name == "PruneAuditEvents"
    assert verify_store(db).ok
    # pruning again, everything: only the new marker is left and it still verifies
    assert audit.prune(T0 + 10**6) == 6
    report = verify_store(db)
    assert report.ok and report.checked == 1
    assert audit.prune(T0) == 0


def test_records_deleted_beyond_a_prune_are_found(db: Database) -> None:
    _write(db, [_event(T0 + i * 100) for i in range(10)])
    with db.engine.begin() as conn:
        prune(conn, T0 + 250, T0 + 5000)
    with db.engine.begin() as conn:
        conn.execute(t.audit_events.delete().where(t.audit_events.c.seq.in_([4, 5])))
    report = verify_store(db)
    assert [(f.kind, f.sequence, f.last_sequence) for f in report.findings] == [(FindingKind.DELETED, 4, 5)]


# -- lookup ------------------------------------------------------------------------------------------


@pytest.fixture
def history(db: Database) -> list[rec.AuditEvent]:
    role = f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy"
    events = [
        _event(T0 + 1, "CreateUser", "alice", "bob"),
        _event(T0 + 2, "GetUser", "alice", "bob"),
        _event(T0 + 3, "DeleteUser", "carol", "bob", error_code="AccessDenied", error_message="denied"),
        _event(T0 + 4, "CreateUser", "carol", "dave", account=OTHER),
        _event(T0 + 5, "UpdateRole", "alice", "x", resources=[Resource("AWS::IAM::Role", "Deploy", role, ACCOUNT)]),
    ]
    _write(db, events)
    return events


def _ids(page: object) -> list[str]:
    return [e["EventId"] for e in page.events]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventName", "CreateUser", [3, 0]),
        ("Username", "carol", [3, 2]),
        ("ReadOnly", "true", [1]),
        ("ReadOnly", "false", [4, 3, 2, 0]),
        ("AccessKeyId", "AKIACAROL", [3, 2]),
        ("EventSource", "iam.amazonaws.com", [4, 3, 2, 1, 0]),
        ("ResourceType", "AWS::IAM::User", [3, 2, 1, 0]),
        ("ResourceName", "bob", [2, 1, 0]),
        ("ResourceName", "Deploy", [4]),
        ("ResourceName", f"arn:aws:iam::{ACCOUNT}:role/ops/Deploy", [4]),
        ("EventSource", "sts.amazonaws.com", []),
    ],
)
def test_lookup_by_attribute(
    db: Database, history: list[rec.AuditEvent], key: str, value: str, expected: list[int]
) -> None:
    with db.read() as conn:
        page = lookup(conn, LookupQuery(attributes=[(key, value)]))
    assert _ids(page) == [history[i].event_id for i in expected]


def test_lookup_by_event_id_time_and_account(db: Database, history: list[rec.AuditEvent]) -> None:
    with db.read() as conn:
        assert _ids(lookup(conn, LookupQuery(attributes=[("EventId", history[2].event_id)]))) == [history[2].event_id]
        assert _ids(lookup(conn, LookupQuery(start_time=T0 + 2, end_time=T0 + 3))) == [
            history[2].event_id,
            history[1].event_id,
        ]
        assert history[3].event_id not in _ids(lookup(conn, LookupQuery(account_id=ACCOUNT)))
        both = LookupQuery(attributes=[("Username", "carol"), ("EventName", "DeleteUser")])
        assert _ids(lookup(conn, both)) == [history[2].event_id]


def test_lookup_events_are_shaped_as_cloudtrail_returns_them(db: Database, history: list[rec.AuditEvent]) -> None:
    with db.read() as conn:
        event = lookup(conn, LookupQuery(attributes=[("EventId", history[0].event_id)])).events[0]
    assert event == {
        "EventId": history[0].event_id,
        "EventName": "CreateUser",
        "ReadOnly": "false",
        "AccessKeyId": "AKIAALICE",
        "EventTime": "2027-01-15T08:00:01Z",
        "EventSource": "iam.amazonaws.com",
        "Username": "alice",
        "Resources": [{"ResourceType": "AWS::IAM::User", "ResourceName": "bob"}],
        "CloudTrailEvent": event["CloudTrailEvent"],
    }
    assert json.loads(event["CloudTrailEvent"]) == history[0].record


def test_lookup_pages_with_next_token(db: Database, history: list[rec.AuditEvent]) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    with db.read() as conn:
        while True:
            page = lookup(conn, LookupQuery(max_results=2, next_token=token))
            seen += _ids(page)
            pages += 1
            token = page.next_token
            if token is None:
                break
        assert pages == 3
        assert seen == [e.event_id for e in reversed(history)]
        first = lookup(conn, LookupQuery(max_results=1))
        with pytest.raises(InvalidNextTokenException):
            lookup(conn, LookupQuery(max_results=1, next_token=first.next_token, attributes=[("Username", "alice")]))
        with pytest.raises(InvalidNextTokenException):
            lookup(conn, LookupQuery(next_token="not-a-token"))


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (LookupQuery(attributes=[("UserName", "x")]), InvalidLookupAttributesException),
        (LookupQuery(attributes=[("ReadOnly", "yes")]), InvalidLookupAttributesException),
        (LookupQuery(attributes=[("EventName", "")]), InvalidLookupAttributesException),
        (LookupQuery(attributes=[("EventName", "_" * 1001)]), InvalidLookupAttributesException),
        (LookupQuery(start_time=T0 + 10, end_time=T0), InvalidTimeRangeException),
        (LookupQuery(max_results=0), InvalidMaxResultsException),
        (LookupQuery(max_results=51), InvalidMaxResultsException),
    ],
)
def test_lookup_refuses_bad_queries_as_cloudtrail_does(
    db: Database, query: LookupQuery, error: type[Exception]
) -> None:
    with db.read() as conn, pytest.raises(error) as info:
        lookup(conn, query)
    assert info.value.status == 400  # type: ignore[attr-defined]


def test_output_as_json_lines_and_table(db: Database, history: list[rec.AuditEvent]) -> None:
    with db.read() as conn:
        events = lookup(conn, LookupQuery()).events
    lines = json_lines(events).splitlines()
    assert [json.loads(line)["EventId"] for line in lines] == [e.event_id for e in reversed(history)]
    text = table(events).splitlines()
    assert text[0].split() == [
        "EventTime",
        "EventSource",
        "EventName",
        "Username",
        "ReadOnly",
        "ErrorCode",
        "Resources",
    ]
    assert len(text) == 6
    assert "DeleteUser" in text[3] and "AccessDenied" in text[3] and "carol" in text[3]


def test_activity_counts_calls_and_denials_per_bucket(db: Database, history: list[rec.AuditEvent]) -> None:
    with db.read() as conn:
        buckets = activity(conn, T0, T0 + 6, 2)
        mine = activity(conn, T0, T0 + 6, 2, account_id=OTHER)
    assert [(b.calls, b.denials) for b in buckets] == [(1, 0), (2, 1), (2, 0)]
    assert [(b.calls, b.denials) for b in mine] == [(0, 0), (0, 0), (1, 0)]
    assert buckets[1].as_json()["start"] == "2027-01-15T08:00:02Z"


def test_the_migration_goes_down_and_up(store_settings: Settings) -> None:
    db = Database(store_settings.store.effective_database_url)
    try:
        db.migrate()
        with db.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
        assert "audit_events" not in sa.inspect(db.engine).get_table_names()
        db.migrate()
        assert {"audit_events", "audit_event_resources"} <= set(sa.inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def test_private_file_mode_survives_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        sink = JsonlSink(tmp_path / "a")
        sink.write(['{"x":1}'])
    finally:
        os.umask(old)
    assert stat.S_IMODE(sink.files()[0].stat().st_mode) == 0o600
