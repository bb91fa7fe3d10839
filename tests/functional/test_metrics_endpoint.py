"""/metrics on a real server: requests, decisions, latency; several workers add up; an audit file
directory that cannot be written is counted and logged while requests and database records go on."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.test_audit_trail import named, wait_for
from tests.support.server import Server, start_server


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return resp.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_and_decisions(iamd: Server, iam: Any) -> None:
    before = scrape(iamd.url)
    iam.create_user(UserName="counted")
    iam.get_user(UserName="counted")
    after = scrape(iamd.url)
    created = sample(after, "iamd_requests_total", service="iam", action="CreateUser", status="200")
    assert created == sample(before, "iamd_requests_total", service="iam", action="CreateUser", status="200") + 1
    allowed = sample(after, "iamd_authorization_decisions_total", source="api", result="allow")
    assert allowed >= sample(before, "iamd_authorization_decisions_total", source="api", result="allow") + 2
    assert sample(after, "iamd_request_duration_seconds_count", service="iam") >= 2
    assert sample(after, "iamd_db_query_duration_seconds_count", statement="select") > 0
    assert "# TYPE iamd_console_signins_total counter" in after
    assert sample(after, "iamd_cache_lookups_total", cache="credentials", result="hit") >= 1


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", extra_args=["--workers", "2"])
    yield srv
    srv.stop()


def test_several_workers_add_up(two_workers: Server) -> None:
    iam = two_workers.client("iam")
    for i in range(12):
        iam.create_user(UserName=f"w{i}")
    time.sleep(0.2)
    for _ in range(4):  # whichever worker answers the scrape, it counts every worker's requests
        text = scrape(two_workers.url)
        assert sample(text, "iamd_requests_total", service="iam", action="CreateUser", status="200") == 12


@pytest.fixture
def unwritable_audit(tmp_path: Path) -> Iterator[Server]:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the audit directory should be\n")
    srv = start_server(
        tmp_path / "data",
        extra_env={"IAMD_AUDIT_FILE_DIR": str(blocker / "audit"), "IAMD_LOG_LEVEL": "info"},
    )
    yield srv
    srv.stop()


def test_an_unwritable_audit_directory_is_counted_and_logged(unwritable_audit: Server) -> None:
    srv = unwritable_audit
    iam = srv.client("iam")
    iam.create_user(UserName="still-served")
    iam.create_user(UserName="still-served-2")
    records = wait_for(srv, lambda rs: len(named(rs, "CreateUser")) >= 2)
    assert len(named(records, "CreateUser")) == 2  # the database has them
    deadline = time.monotonic() + 10
    while sample(scrape(srv.url), "iamd_audit_sink_failures_total", sink="file") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sample(scrape(srv.url), "iamd_audit_sink_failures_total", sink="file") >= 1
    log = "".join(p.read_text() for p in srv.data_dir.glob("server-*.log"))
    complaints = [line for line in log.splitlines() if "cannot write the audit file" in line]
    assert len(complaints) == 1, complaints  # once per minute at most, not once per failure
