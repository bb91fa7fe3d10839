"""The console's audit page for administrators: LookupEvents over the signed-in account's records,
with paging, and a plot of calls and denials over time (inline SVG drawn here: no script).

Who may open it: the account's root user, or a principal allowed ``cloudtrail:LookupEvents``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iamd.audit.lookup import Bucket, LookupQuery, activity, lookup
from iamd.core.errors import AccessDenied, AwsError
from iamd.core.principal import Principal
from iamd.policy import access_denied_message
from iamd.services.runtime import Runtime
from iamd.web.protocol.form import parse_form

LOOKUP_ACTION = "cloudtrail:LookupEvents"
FILTERS = (
    ("event_name", "EventName", "Event name"),
    ("user", "Username", "User name"),
    ("resource_name", "ResourceName", "Resource name"),
    ("resource_type", "ResourceType", "Resource type"),
    ("access_key_id", "AccessKeyId", "Access key ID"),
    ("event_source", "EventSource", "Event source"),
)
PLOT_WIDTH, PLOT_HEIGHT = 720, 160
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    calls_y: float
    calls_height: float
    denials_y: float
    denials_height: float
    label: str


def may_look_up(rt: Runtime, principal: Principal, context: dict[str, Any]) -> None:
    """Root, or an identity policy allowing ``cloudtrail:LookupEvents``; else AccessDenied."""
    if principal.is_root:
        return
    decision = rt.authorizer.decide(principal, LOOKUP_ACTION, "*", context)
    if not decision.allowed:
        raise AccessDenied(access_denied_message(principal.arn, LOOKUP_ACTION, "*", decision))


def _time(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{what}: {text!r} is not a date and time (2026-01-31T12:00)") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def page_values(rt: Runtime, principal: Principal, query_string: str) -> dict[str, Any]:
    """What audit.html shows: the filters as given, one page of events, the next token, the plot."""
    query = parse_form(query_string) if query_string else {}
    values = {name: query.get(name, "").strip() for name, _, _ in FILTERS}
    now = rt.clock.time()
    error = None
    try:
        start = _time(query.get("start", ""), "From")
        end = _time(query.get("end", ""), "To")
    except ValueError as exc:
        start = end = None
        error = str(exc)
    attributes = [(key, values[name]) for name, key, _ in FILTERS if values[name]]
    events: list[dict[str, Any]] = []
    next_token = None
    plot_start = start if start is not None else (end if end is not None else now) - DAY
    plot_end = end if end is not None else now
    bars: list[Bar] = []
    if error is None:
        try:
            with rt.db.read() as conn:
                page = lookup(
                    conn,
                    LookupQuery(
                        attributes=attributes,
                        start_time=start,
                        end_time=end,
                        max_results=25,
                        next_token=query.get("next") or None,
                        account_id=principal.account_id,
                    ),
                )
                bucket = max(60, int((plot_end - plot_start) / 48) or 60)
                buckets = activity(conn, plot_start, plot_end, bucket, principal.account_id)
            events, next_token = page.events, page.next_token
            bars = plot(buckets, bucket)
        except AwsError as err:
            error = f"{err.code}: {err.message}"
    return {
        "filters": [(name, label, values[name]) for name, _, label in FILTERS],
        "start": query.get("start", ""),
        "end": query.get("end", ""),
        "events": [_row(e) for e in events],
        "next_token": next_token,
        "bars": bars,
        "plot_width": PLOT_WIDTH,
        "plot_height": PLOT_HEIGHT,
        "plot_from": _iso(plot_start),
        "plot_to": _iso(plot_end),
        "query_error": error,
        "query_string": query_string,
    }


def _row(event: dict[str, Any]) -> dict[str, Any]:
    resources = ", ".join(r.get("ResourceName", "") for r in event.get("Resources") or [])
    return {
        "time": event.get("EventTime", ""),
        "name": event.get("EventName", ""),
        "source": event.get("EventSource", ""),
        "user": event.get("Username") or "",
        "error": event.get("ErrorCode") or "",
        "resources": resources,
        "id": event.get("EventId", ""),
    }


def plot(buckets: list[Bucket], bucket_seconds: int) -> list[Bar]:
    """Bars for calls (full height = the busiest bucket) with the denials drawn over them."""
    if not buckets:
        return []
    peak = max(max(b.calls for b in buckets), 1)
    width = PLOT_WIDTH / len(buckets)
    bars = []
    for i, b in enumerate(buckets):
        calls_h = PLOT_HEIGHT * b.calls / peak
        denials_h = PLOT_HEIGHT * b.denials / peak
        label = f"{_iso(b.start)}: {b.calls} calls, {b.denials} denied ({bucket_seconds} s)"
        bars.append(
            Bar(
                round(i * width, 2),
                round(max(width - 1, 1), 2),
                round(PLOT_HEIGHT - calls_h, 2),
                round(calls_h, 2),
                round(PLOT_HEIGHT - denials_h, 2),
                round(denials_h, 2),
                label,
            )
        )
    return bars


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
