"""The access log: one line per HTTP request on the ``iamd.access`` logger.

With iamd's log format (``iamd.cli.logs``) a line reads::

    2026-01-31T12:00:00.123Z INFO iamd.access: request_id=6f1c… source_ip=203.0.113.9 action=iam:CreateUser
        principal=arn:aws:iam::123456789012:user/alice status=200 decision=allow duration_ms=4.2

(one line; wrapped here).  The time, in ISO 8601 UTC, is the record's, written when the response has
been sent.  API requests name the operation as ``service:action`` (``-`` for a part not known, e.g.
the service of an unsigned request); every other request (console pages, /healthz) gives
``method=`` and ``path=`` instead.  ``decision`` is ``allow`` when the operation was authorized (it
ran, or failed after its authorization with a client error), ``deny`` when it was refused with
AccessDenied, and ``-`` when no decision was made (unsigned, bad signature, malformed request,
server error, anything that is not an API call).

Nothing secret is written: no header, no query string, no parameter but the action; values that
are not plain ARN characters are quoted with JSON escapes, so a request cannot forge a line.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from iamd.core.clock import Clock

log = logging.getLogger("iamd.access")

ACCESS_DENIED = "AccessDenied"
_PLAIN = re.compile(r"[A-Za-z0-9._:/@+=,*\-]+")
_MAX_VALUE = 512


@dataclass(slots=True)
class AccessRecord:
    """What one request did, filled in as it goes through the app and the API pipeline."""

    source_ip: str
    method: str
    path: str
    started: float
    """The clock's monotonic reading when the request arrived."""
    api: bool = False
    """An AWS API request: logged with its operation instead of its path."""
    request_id: str | None = None
    service: str | None = None
    action: str | None = None
    principal: str | None = None
    """The authenticated caller's ARN."""
    dispatched: bool = False
    """The operation was handed to dispatch, where it is authorized before it runs."""
    error_code: str | None = None
    status: int | None = None

    @property
    def decision(self) -> str:
        if self.error_code == ACCESS_DENIED:
            return "deny"
        if self.dispatched and self.status is not None and self.status < 500:
            return "allow"
        return "-"

    def line(self, now: float) -> str:
        """The log line, ``now`` being the clock's monotonic reading when the response was sent."""
        elapsed_ms = (now - self.started) * 1000
        fields = [("request_id", _value(self.request_id)), ("source_ip", _value(self.source_ip))]
        if self.api:
            fields.append(("action", f"{_value(self.service)}:{_value(self.action)}"))
        else:
            fields += [("method", _value(self.method)), ("path", _value(self.path))]
        fields += [
            ("principal", _value(self.principal)),
            ("status", str(self.status) if self.status is not None else "-"),
            ("decision", self.decision),
            ("duration_ms", f"{elapsed_ms:.1f}"),
        ]
        return " ".join(f"{name}={value}" for name, value in fields)


def _value(text: str | None) -> str:
    if not text:
        return "-"
    if len(text) <= _MAX_VALUE and _PLAIN.fullmatch(text):
        return text
    return json.dumps(text[:_MAX_VALUE])


class AccessLog:
    def __init__(self, enabled: bool, clock: Clock) -> None:
        self.enabled = enabled
        self.clock = clock

    def write(self, record: AccessRecord) -> None:
        if self.enabled:
            log.info(record.line(self.clock.monotonic()))
