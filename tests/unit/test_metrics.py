"""The Prometheus metrics: names, the adopted in-process counters, database timing, several workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from iamd import metrics
from iamd.core import counters

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(name: str, **labels: str) -> float:
    return _samples(metrics.render()[1]).get((name, tuple(sorted(labels.items()))), 0.0)


def test_render_is_prometheus_text() -> None:
    content_type, body = metrics.render()
    assert content_type.startswith("text/plain; version=")
    assert b"# TYPE iamd_requests_total counter" in body
    assert b"# TYPE iamd_request_duration_seconds histogram" in body


def test_requests_and_latency_are_counted() -> None:
    before = _value("iamd_requests_total", service="iam", action="CreateUser", status="200")
    count = _value("iamd_request_duration_seconds_count", service="iam")
    metrics.observe_request("iam", "CreateUser", 200, 0.003)
    assert _value("iamd_requests_total", service="iam", action="CreateUser", status="200") == before + 1
    assert _value("iamd_request_duration_seconds_count", service="iam") == count + 1
    assert _value("iamd_request_duration_seconds_bucket", service="iam", le="0.005") >= 1


def test_decisions_signins_and_caches() -> None:
    metrics.count_decision("authorize", "explicit_deny")
    metrics.observe_authorize("authorize", 0.0004)
    metrics.count_signin(success=False, mfa=False)
    metrics.count_cache("session_token", hit=True)
    assert _value("iamd_authorization_decisions_total", source="authorize", result="explicit_deny") >= 1
    assert _value("iamd_authorize_duration_seconds_bucket", source="authorize", le="0.0005") >= 1
    assert _value("iamd_console_signins_total", result="failure", mfa="no") >= 1
    assert _value("iamd_cache_lookups_total", cache="session_token", result="hit") >= 1
    with pytest.raises(ValueError):
        metrics.count_decision("authorize", "maybe")
    with pytest.raises(ValueError):
        metrics.count_decision("elsewhere", "allow")


def test_in_process_counters_are_exposed_not_duplicated() -> None:
    source = counters.Counters()
    source.increment("iamd_mfa_lockouts_total", purpose="sts")
    source.increment("iamd_mfa_lockouts_total", 2, purpose="console")
    source.increment("iamd_audit_events_written_total", 5)
    registry = CollectorRegistry()
    registry.register(metrics.CountersCollector(source))
    samples = _samples(generate_latest(registry))
    assert samples[("iamd_mfa_lockouts_total", (("purpose", "sts"),))] == 1
    assert samples[("iamd_mfa_lockouts_total", (("purpose", "console"),))] == 2
    assert samples[("iamd_audit_events_written_total", ())] == 5
    # the process-wide registry the services count into is the one /metrics shows
    before = _value("iamd_mfa_verifications_total", purpose="metrics-test", outcome="accepted")
    counters.DEFAULT.increment("iamd_mfa_verifications_total", purpose="metrics-test", outcome="accepted")
    assert _value("iamd_mfa_verifications_total", purpose="metrics-test", outcome="accepted") == before + 1


def test_database_statements_are_timed_and_failures_counted() -> None:
    engine = sa.create_engine("sqlite://")
    metrics.instrument_engine(engine)
    metrics.instrument_engine(engine)  # once only
    selects = _value("iamd_db_query_duration_seconds_count", statement="select")
    errors = _value("iamd_db_errors_total", statement="select")
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        with pytest.raises(sa.exc.OperationalError):
            conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert _value("iamd_db_query_duration_seconds_count", statement="select") == selects + 1
    assert _value("iamd_db_errors_total", statement="select") == errors + 1


_WORKER = textwrap.dedent(
    """
    import sys
    from iamd import metrics
    from iamd.core import counters
    for _ in range(int(sys.argv[1])):
        metrics.observe_request("sts", "AssumeRole", 200, 0.002)
        counters.DEFAULT.increment("iamd_mfa_lockouts_total", purpose="console")
    metrics.sync_counters()
    """
)
_SCRAPE = "from iamd import metrics; import sys; sys.stdout.write(metrics.render()[1].decode())"


def test_several_workers_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), metrics.MULTIPROC_ENV: str(tmp_path)}
    for count in ("3", "4"):
        subprocess.run([sys.executable, "-c", _WORKER, count], env=env, check=True, timeout=60)
    scrape = subprocess.run(
        [sys.executable, "-c", _SCRAPE], env=env, check=True, timeout=60, capture_output=True
    ).stdout
    samples = _samples(scrape)
    assert samples[("iamd_requests_total", (("action", "AssumeRole"), ("service", "sts"), ("status", "200")))] == 7
    assert samples[("iamd_request_duration_seconds_count", (("service", "sts"),))] == 7
    assert samples[("iamd_mfa_lockouts_total", (("purpose", "console"),))] == 7


def test_prepare_multiprocess_dir_empties_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "metrics"
    target.mkdir()
    (target / "counter_1.db").write_bytes(b"stale")
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    metrics.prepare_multiprocess_dir(target)
    assert os.environ[metrics.MULTIPROC_ENV] == str(target)
    assert list(target.iterdir()) == []
    assert target.stat().st_mode & 0o777 == 0o700


def test_the_grafana_dashboard_uses_only_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana" / "iamd.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 10
    exported = {
        "iamd_requests",
        "iamd_request_duration_seconds",
        "iamd_authorization_decisions",
        "iamd_authorize_duration_seconds",
        "iamd_console_signins",
        "iamd_cache_lookups",
        "iamd_db_query_duration_seconds",
        "iamd_db_errors",
        "iamd_mfa_verifications",
        "iamd_mfa_lockouts",
        "iamd_audit_events_written",
        "iamd_audit_events_dropped",
        "iamd_audit_sink_failures",
    }
    assert {m for m in metrics.metric_names() if m.startswith("iamd_")} <= exported
    used = set()
    for expr in exprs:
        for name in re.findall(r"iamd_[a-z_]+", expr):
            used.add(re.sub(r"_(total|bucket|sum|count)$", "", name))
    assert used <= exported, used - exported
    assert used == exported
