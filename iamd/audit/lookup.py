"""Finding audit records the way CloudTrail's LookupEvents does, and printing them.

Filters: the LookupEvents attribute keys (``EventId``, ``EventName``, ``ReadOnly``, ``Username``,
``ResourceType``, ``ResourceName``, ``EventSource``, ``AccessKeyId``), ``StartTime``/``EndTime``
(inclusive), ``MaxResults`` (1-50, default 50) and ``NextToken``.  Events come newest first, each
shaped as LookupEvents' ``Event`` (``CloudTrailEvent`` holds the record's JSON).  Unlike CloudTrail,
which takes one attribute, several attributes may be given: all must match.  ``ResourceName``
matches a resource's name or its ARN.  ``account_id`` limits the search to one account's records
(the console shows administrators their own account's events).

Errors are CloudTrail's: ``InvalidLookupAttributesException``, ``InvalidTimeRangeException``,
``InvalidMaxResultsException``, ``InvalidNextTokenException``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.audit.errors import (
    InvalidLookupAttributesException,
    InvalidMaxResultsException,
    InvalidNextTokenException,
    InvalidTimeRangeException,
)
from iamd.store import tables as t

ATTRIBUTE_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
MAX_RESULTS = 50
_VALUE_LIMIT = 2000
DENIAL_CODES = ("AccessDenied", "AccessDeniedException", "Unauthenticated")
"""``errorCode`` values counted as denials in :func:`activity`."""


@dataclass(frozen=True, slots=True)
class LookupQuery:
    attributes: Sequence[tuple[str, str]] = ()
    start_time: float | None = None
    end_time: float | None = None
    max_results: int = MAX_RESULTS
    next_token: str | None = None
    account_id: str | None = None


@dataclass(slots=True)
class LookupPage:
    events: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None


def _value_length(value: str) -> int:
    return len(value) + sum(value.count(c) for c in ("_", " ", ",", "\n"))


def validate(query: LookupQuery) -> None:
    for key, value in query.attributes:
        if key not in ATTRIBUTE_KEYS:
            raise InvalidLookupAttributesException(
                f"Invalid lookup attribute key {key!r}: use one of {', '.join(ATTRIBUTE_KEYS)}."
            )
        if not value:
            raise InvalidLookupAttributesException(f"The value of lookup attribute {key} cannot be empty.")
        if _value_length(value) > _VALUE_LIMIT:
            raise InvalidLookupAttributesException(
                f"The value of lookup attribute {key} is longer than {_VALUE_LIMIT} characters."
            )
        if key == "ReadOnly" and value not in ("true", "false"):
            raise InvalidLookupAttributesException("The value of lookup attribute ReadOnly must be true or false.")
    if query.start_time is not None and query.end_time is not None and query.start_time > query.end_time:
        raise InvalidTimeRangeException("Start time must be before or equal to end time.")
    if not 1 <= query.max_results <= MAX_RESULTS:
        raise InvalidMaxResultsException(f"MaxResults must be between 1 and {MAX_RESULTS}.")


def _fingerprint(query: LookupQuery) -> str:
    parts = [sorted(query.attributes), query.start_time, query.end_time, query.account_id]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _encode_token(time_: float, seq: int, query: LookupQuery) -> str:
    raw = json.dumps({"t": time_, "s": seq, "q": _fingerprint(query)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, query: LookupQuery) -> tuple[float, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        when, seq, fingerprint = float(data["t"]), int(data["s"]), str(data["q"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidNextTokenException("Invalid NextToken.") from exc
    if fingerprint != _fingerprint(query):
        raise InvalidNextTokenException("The NextToken was issued for a lookup with other parameters.")
    return when, seq


def lookup(conn: Connection, query: LookupQuery) -> LookupPage:
    validate(query)
    e, r = t.audit_events, t.audit_event_resources
    stmt = sa.select(e.c.seq, e.c.event_time, e.c.record)
    for key, value in query.attributes:
        if key == "EventId":
            stmt = stmt.where(e.c.event_id == value)
        elif key == "EventName":
            stmt = stmt.where(e.c.event_name == value)
        elif key == "ReadOnly":
            stmt = stmt.where(e.c.read_only.is_(value == "true"))
        elif key == "Username":
            stmt = stmt.where(e.c.username == value)
        elif key == "EventSource":
            stmt = stmt.where(e.c.event_source == value)
        elif key == "AccessKeyId":
            stmt = stmt.where(e.c.access_key_id == value)
        elif key == "ResourceType":
            stmt = stmt.where(sa.exists().where(r.c.seq == e.c.seq, r.c.resource_type == value))
        else:  # ResourceName
            stmt = stmt.where(
                sa.exists().where(r.c.seq == e.c.seq, sa.or_(r.c.resource_name == value, r.c.resource_arn == value))
            )
    if query.start_time is not None:
        stmt = stmt.where(e.c.event_time >= query.start_time)
    if query.end_time is not None:
        stmt = stmt.where(e.c.event_time <= query.end_time)
    if query.account_id is not None:
        stmt = stmt.where(e.c.account_id == query.account_id)
    if query.next_token:
        when, seq = _decode_token(query.next_token, query)
        stmt = stmt.where(sa.or_(e.c.event_time < when, sa.and_(e.c.event_time == when, e.c.seq < seq)))
    rows = conn.execute(stmt.order_by(e.c.event_time.desc(), e.c.seq.desc()).limit(query.max_results + 1)).all()
    page = rows[: query.max_results]
    resources = _resources(conn, [int(row.seq) for row in page])
    out = LookupPage(events=[_event(str(row.record), resources.get(int(row.seq), [])) for row in page])
    if len(rows) > query.max_results:
        last = page[-1]
        out.next_token = _encode_token(float(last.event_time), int(last.seq), query)
    return out


def _resources(conn: Connection, seqs: list[int]) -> dict[int, list[dict[str, str]]]:
    if not seqs:
        return {}
    r = t.audit_event_resources
    found: dict[int, list[dict[str, str]]] = {}
    rows = conn.execute(
        sa.select(r.c.seq, r.c.resource_type, r.c.resource_name)
        .where(r.c.seq.in_(seqs))
        .order_by(r.c.seq, r.c.position)
    )
    for row in rows:
        found.setdefault(int(row.seq), []).append(
            {"ResourceType": row.resource_type, "ResourceName": row.resource_name}
        )
    return found


def _username(record: dict[str, Any]) -> str | None:
    identity = record.get("userIdentity") or {}
    kind = identity.get("type")
    if kind == "Root":
        return "root"
    if kind in ("AssumedRole", "FederatedUser") and identity.get("arn"):
        return str(identity["arn"]).rsplit("/", 1)[-1]
    if kind == "AWSService":
        return identity.get("invokedBy")
    return identity.get("userName")


def _event(text: str, resources: list[dict[str, str]]) -> dict[str, Any]:
    record = json.loads(text)
    event: dict[str, Any] = {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": "true" if record.get("readOnly") else "false",
    }
    key = (record.get("userIdentity") or {}).get("accessKeyId")
    if key:
        event["AccessKeyId"] = key
    event["EventTime"] = record.get("eventTime")
    event["EventSource"] = record.get("eventSource")
    username = _username(record)
    if username:
        event["Username"] = username
    event["Resources"] = resources
    event["CloudTrailEvent"] = text
    return event


# -- output ---------------------------------------------------------------------------------------


def json_lines(events: Sequence[dict[str, Any]]) -> str:
    """One LookupEvents ``Event`` object per line."""
    return "".join(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n" for event in events)


_TABLE_COLUMNS = ("EventTime", "EventSource", "EventName", "Username", "ReadOnly", "ErrorCode", "Resources")


def table(events: Sequence[dict[str, Any]]) -> str:
    """A plain text table (time, source, name, user, read-only, error, resources)."""
    rows: list[list[str]] = []
    for event in events:
        record = json.loads(event["CloudTrailEvent"])
        resources = ", ".join(r["ResourceName"] for r in event.get("Resources", []))
        rows.append(
            [
                str(event.get("EventTime") or ""),
                str(event.get("EventSource") or ""),
                str(event.get("EventName") or ""),
                str(event.get("Username") or "-"),
                str(event.get("ReadOnly")),
                str(record.get("errorCode") or "-"),
                resources or "-",
            ]
        )
    widths = [max([len(c)] + [len(_cell(row[i])) for row in rows]) for i, c in enumerate(_TABLE_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(_TABLE_COLUMNS, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(_cell(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """One line, control characters escaped: a record cannot forge table rows."""
    return json.dumps(text, ensure_ascii=False)[1:-1] if any(ord(ch) < 32 or ch == "\x7f" for ch in text) else text


# -- activity over time (the console's plot) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    calls: int
    denials: int

    def as_json(self) -> dict[str, Any]:
        return {
            "start": datetime.fromtimestamp(self.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "calls": self.calls,
            "denials": self.denials,
        }


def activity(
    conn: Connection, start: float, end: float, bucket_seconds: int, account_id: str | None = None
) -> list[Bucket]:
    """Calls and denials per time bucket in ``[start, end)``: every bucket, empty ones too."""
    if bucket_seconds < 1:
        raise ValueError("bucket_seconds must be at least 1")
    if end <= start:
        return []
    e = t.audit_events
    index = sa.cast(sa.func.floor((e.c.event_time - start) / bucket_seconds), sa.Integer).label("bucket")
    denied = sa.func.sum(sa.case((e.c.error_code.in_(DENIAL_CODES), 1), else_=0))
    stmt = sa.select(index, sa.func.count(), denied).where(e.c.event_time >= start, e.c.event_time < end)
    if account_id is not None:
        stmt = stmt.where(e.c.account_id == account_id)
    counts = {int(row[0]): (int(row[1]), int(row[2] or 0)) for row in conn.execute(stmt.group_by(index))}
    total = int((end - start + bucket_seconds - 1) // bucket_seconds)
    return [Bucket(start + i * bucket_seconds, *counts.get(i, (0, 0))) for i in range(total)]
