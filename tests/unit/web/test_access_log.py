"""Access log lines: the fields, the decision, and values a client controls never forging a line."""

from __future__ import annotations

import logging
import shlex

import pytest

from iamd.core.clock import FixedClock
from iamd.web.access_log import AccessLog, AccessRecord


def api_record(**changes: object) -> AccessRecord:
    record = AccessRecord("192.0.2.7", "POST", "/", started=100.0, api=True, request_id="rid-1")
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split(" "))


def test_an_allowed_call() -> None:
    record = api_record(
        service="iam", action="ListUsers", principal="arn:aws:iam::123456789012:user/a", dispatched=True, status=200
    )
    assert fields(record.line(now=100.0125)) == {
        "request_id": "rid-1",
        "source_ip": "192.0.2.7",
        "action": "iam:ListUsers",
        "principal": "arn:aws:iam::123456789012:user/a",
        "status": "200",
        "decision": "allow",
        "duration_ms": "12.5",
    }


@pytest.mark.parametrize(
    ("changes", "decision"),
    [
        ({"dispatched": True, "status": 404, "error_code": "NoSuchEntity"}, "allow"),  # authorized, then not found
        ({"dispatched": True, "status": 403, "error_code": "AccessDenied"}, "deny"),
        ({"dispatched": False, "status": 403, "error_code": "SignatureDoesNotMatch"}, "-"),
        ({"dispatched": False, "status": 400, "error_code": "ValidationError"}, "-"),
        ({"dispatched": True, "status": 503, "error_code": "ServiceUnavailable"}, "-"),
        ({"dispatched": True, "status": None}, "-"),
    ],
)
def test_the_decision(changes: dict[str, object], decision: str) -> None:
    assert api_record(**changes).decision == decision


def test_an_unsigned_call_has_no_service_principal_or_decision() -> None:
    line = fields(api_record(action="ListUsers", status=403, error_code="MissingAuthenticationToken").line(100.0))
    assert (line["action"], line["principal"], line["decision"], line["status"]) == ("-:ListUsers", "-", "-", "403")


def test_a_console_request_gives_method_and_path() -> None:
    record = AccessRecord("192.0.2.7", "GET", "/console/home", started=1.0, status=200)
    line = fields(record.line(now=1.0))
    assert line["method"] == "GET" and line["path"] == "/console/home"
    assert "action" not in line and line["request_id"] == "-" and line["decision"] == "-"


def test_client_controlled_values_cannot_forge_fields_or_lines() -> None:
    record = api_record(action="ListUsers status=200 decision=allow\n2026 forged", status=400)
    line = record.line(now=100.0)
    assert "\n" not in line
    tokens = shlex.split(line)  # a quoted value stays one token
    assert [t.split("=", 1)[0] for t in tokens] == [
        "request_id",
        "source_ip",
        "action",
        "principal",
        "status",
        "decision",
        "duration_ms",
    ]
    assert tokens[2] == "action=-:ListUsers status=200 decision=allow\\n2026 forged"
    assert tokens[4] == "status=400"
    long_path = AccessRecord("::1", "GET", "/console/" + "x" * 5000, started=1.0).line(now=1.0)
    assert len(long_path) < 700


def test_writes_on_the_iamd_access_logger_only_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    record = api_record(service="sts", action="GetCallerIdentity", dispatched=True, status=200)
    with caplog.at_level(logging.INFO, logger="iamd.access"):
        AccessLog(enabled=False, clock=FixedClock(100.0)).write(record)
        assert caplog.records == []
        AccessLog(enabled=True, clock=FixedClock(100.25)).write(record)
    (written,) = caplog.records
    assert written.name == "iamd.access" and "action=sts:GetCallerIdentity" in written.getMessage()
    assert "duration_ms=250.0" in written.getMessage()  # the log's clock, from the record's start (100.0)
