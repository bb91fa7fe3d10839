"""Credential reports through boto3 and the AWS CLI against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import re
import time
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from tests.functional.test_server_certificates import db_engine, error_of, second_account
from tests.support.server import ACCOUNT_ID, Server

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
    "cert_2_active,cert_2_last_rotated"
)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def report_rows(iam: Any) -> tuple[list[str], list[dict[str, str]]]:
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    text = report["Content"].decode()
    lines = text.split("\n")
    return lines, list(csv.DictReader(io.StringIO(text)))


def age_report(iamd: Server, seconds: float) -> None:
    """Move the stored report's generation time into the past (the server has a real clock)."""
    engine = db_engine(iamd)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE credential_reports SET generated_at = generated_at - :s WHERE account_id = :a"),
                {"s": seconds, "a": ACCOUNT_ID},
            )
    finally:
        engine.dispose()


def test_not_present_before_generation(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_credential_report()
    assert error_of(exc) == ("ReportNotPresent", 410)


def test_generate_then_complete(iam: Any) -> None:
    first = iam.generate_credential_report()
    assert first["State"] == "STARTED"
    assert first["Description"]
    second = iam.generate_credential_report()
    assert second["State"] == "COMPLETE"
    before = time.time()
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    generated = report["GeneratedTime"]
    assert isinstance(generated, dt.datetime)
    assert abs(generated.timestamp() - before) < 120


def test_root_row(iam: Any) -> None:
    iam.generate_credential_report()
    lines, rows = report_rows(iam)
    assert lines[0] == HEADER
    assert len(rows) == 1
    root = rows[0]
    assert root["user"] == "<root_account>"
    assert root["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert ISO.match(root["user_creation_time"])
    assert root["password_enabled"] == "not_supported"
    assert root["password_last_changed"] == "not_supported"
    assert root["password_next_rotation"] == "not_supported"
    assert root["mfa_active"] == "false"
    # The test server's root has one active access key.
    assert root["access_key_1_active"] == "true"
    assert ISO.match(root["access_key_1_last_rotated"])
    assert root["access_key_2_active"] == "false"
    for col in (
        "access_key_2_last_rotated",
        "access_key_2_last_used_date",
        "access_key_2_last_used_region",
        "access_key_2_last_used_service",
        "cert_1_last_rotated",
        "cert_2_last_rotated",
    ):
        assert root[col] == "N/A"
    assert root["cert_1_active"] == "false" and root["cert_2_active"] == "false"


def test_user_rows(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="zed")
    iam.create_user(UserName="alice", Path="/eng/")
    key1 = iam.create_access_key(UserName="alice")["AccessKey"]
    key2 = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.update_access_key(UserName="alice", AccessKeyId=key2["AccessKeyId"], Status="Inactive")
    iam.create_login_profile(UserName="alice", Password="Correct-Horse-9-Battery")
    # alice's first key signs a request, so its last use is recorded.
    alice = iamd.client("iam", access_key_id=key1["AccessKeyId"], secret_access_key=key1["SecretAccessKey"])
    with contextlib.suppress(ClientError):  # an access denial still uses the key
        alice.list_users()
    iam.generate_credential_report()
    _, rows = report_rows(iam)
    assert [r["user"] for r in rows] == ["<root_account>", "alice", "zed"]
    a = rows[1]
    assert a["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/eng/alice"
    assert ISO.match(a["user_creation_time"])
    assert a["password_enabled"] == "true"
    assert a["password_last_used"] == "no_information"
    assert ISO.match(a["password_last_changed"])
    assert a["password_next_rotation"] == "N/A"
    assert a["mfa_active"] == "false"
    assert a["access_key_1_active"] == "true"
    assert ISO.match(a["access_key_1_last_rotated"])
    assert a["access_key_2_active"] == "false"  # inactive
    assert ISO.match(a["access_key_2_last_rotated"])
    assert a["access_key_2_last_used_date"] == "N/A"
    assert a["access_key_2_last_used_region"] == "N/A"
    assert a["access_key_2_last_used_service"] == "N/A"
    if a["access_key_1_last_used_date"] != "N/A":  # key use is recorded asynchronously
        assert ISO.match(a["access_key_1_last_used_date"])
        assert a["access_key_1_last_used_region"] == "us-east-1"
        assert a["access_key_1_last_used_service"] == "iam"
    z = rows[2]
    assert z["password_enabled"] == "false"
    assert z["password_last_used"] == "N/A"
    assert z["password_last_changed"] == "N/A"
    assert z["password_next_rotation"] == "N/A"
    assert z["access_key_1_active"] == "false"
    assert z["access_key_1_last_rotated"] == "N/A"


def test_password_next_rotation_follows_policy(iam: Any) -> None:
    iam.update_account_password_policy(MinimumPasswordLength=8, MaxPasswordAge=90)
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password="Correct-Horse-9-Battery")
    iam.generate_credential_report()
    _, rows = report_rows(iam)
    bob = rows[1]
    changed = dt.datetime.fromisoformat(bob["password_last_changed"])
    rotation = dt.datetime.fromisoformat(bob["password_next_rotation"])
    assert rotation - changed == dt.timedelta(days=90)


def test_report_is_reused_for_four_hours_then_expires(iamd: Server, iam: Any) -> None:
    assert iam.generate_credential_report()["State"] == "STARTED"
    generated = iam.get_credential_report()["GeneratedTime"]
    iam.create_user(UserName="late")
    # Within four hours the report is not regenerated.
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    _, rows = report_rows(iam)
    assert [r["user"] for r in rows] == ["<root_account>"]
    assert iam.get_credential_report()["GeneratedTime"] == generated

    age_report(iamd, 4 * 3600 + 60)
    with pytest.raises(ClientError) as exc:
        iam.get_credential_report()
    assert error_of(exc) == ("ReportExpired", 410)
    assert iam.generate_credential_report()["State"] == "STARTED"
    _, rows = report_rows(iam)
    assert [r["user"] for r in rows] == ["<root_account>", "late"]


def test_accounts_are_isolated(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="mine")
    iam.generate_credential_report()
    other = second_account(iamd)
    with pytest.raises(ClientError) as exc:
        other.get_credential_report()
    assert error_of(exc) == ("ReportNotPresent", 410)
    assert other.generate_credential_report()["State"] == "STARTED"
    report = other.get_credential_report()["Content"].decode()
    assert "mine" not in report
    assert f":{ACCOUNT_ID}:" not in report


def test_aws_cli(iamd: Server) -> None:
    assert iamd.aws("iam", "generate-credential-report")["State"] == "STARTED"
    assert iamd.aws("iam", "generate-credential-report")["State"] == "COMPLETE"
    out = iamd.aws("iam", "get-credential-report")
    assert out["ReportFormat"] == "text/csv"
    text = base64.b64decode(out["Content"]).decode()
    assert text.split("\n")[0] == HEADER
    assert text.split("\n")[1].startswith(f"<root_account>,arn:aws:iam::{ACCOUNT_ID}:root,")
