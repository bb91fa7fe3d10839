"""The audit trail of a real server: a record for every API call and decision, secrets kept out, the chain verified."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from iamd.client import AuthorizeClient
from tests.functional.authorize_support import assume, parts_of, policy, service_identity, signed_request, user_with_key
from tests.support.server import Server


def _engine(iamd: Server) -> sa.Engine:
    url = iamd.database_url or f"sqlite:///{iamd.data_dir / 'iamd.db'}"
    return sa.create_engine(url)


def all_records(iamd: Server) -> list[dict[str, Any]]:
    engine = _engine(iamd)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT record FROM audit_events ORDER BY seq")).all()
    finally:
        engine.dispose()
    return [json.loads(r[0]) for r in rows]


def wait_for(
    iamd: Server, found: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The records once ``found`` holds for them (the server writes them a moment after each answer)."""
    deadline = time.monotonic() + timeout
    while True:
        records = all_records(iamd)
        if found(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def named(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r["eventName"] == name]


def test_api_calls_are_recorded_without_secrets(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "docs"}])
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.create_login_profile(UserName="alice", Password="Correct-Horse-9!")
    alice = iamd.client("iam", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    with pytest.raises(ClientError):
        alice.create_user(UserName="mallory")
    stranger = iamd.client("iam", access_key_id="AKIAUNKNOWNKEY000000", secret_access_key="x" * 40)
    with pytest.raises(ClientError):
        stranger.list_users()

    records = wait_for(
        iamd,
        lambda rs: (
            bool(named(rs, "CreateLoginProfile"))
            and any(r.get("errorCode") == "InvalidClientTokenId" for r in rs)
            and any(r.get("errorCode") == "AccessDenied" for r in rs)
        ),
    )
    created = [r for r in named(records, "CreateUser") if "errorCode" not in r]
    assert [r["requestParameters"]["userName"] for r in created] == ["alice"]
    first = created[0]
    assert first["eventSource"] == "iam.amazonaws.com" and first["eventType"] == "AwsApiCall"
    assert first["userIdentity"]["type"] == "Root" and first["userIdentity"]["accountId"] == iamd.account_id
    assert first["userIdentity"]["accessKeyId"] == iamd.access_key_id
    assert first["readOnly"] is False and first["recipientAccountId"] == iamd.account_id
    assert first["responseElements"]["user"]["userName"] == "alice"
    assert first["requestID"] and first["eventID"] and first["awsRegion"] == "us-east-1"
    assert first["userAgent"].startswith("Boto3") or "botocore" in first["userAgent"]

    access_key = named(records, "CreateAccessKey")[0]
    assert access_key["responseElements"]["accessKey"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert named(records, "CreateLoginProfile")[0]["requestParameters"]["password"] == "HIDDEN_DUE_TO_SECURITY_REASONS"

    denied = next(r for r in records if r.get("errorCode") == "AccessDenied")
    assert denied["eventName"] == "CreateUser" and denied["requestParameters"] == {"userName": "mallory"}
    assert denied["userIdentity"]["arn"].endswith(":user/alice")
    assert "is not authorized to perform: iam:CreateUser" in denied["errorMessage"]

    unknown = next(r for r in records if r.get("errorCode") == "InvalidClientTokenId")
    assert unknown["eventName"] == "ListUsers" and unknown["userIdentity"]["type"] == "Unknown"
    assert unknown["userIdentity"]["accessKeyId"] == "AKIAUNKNOWNKEY000000"
    assert unknown["requestParameters"] is None

    text = json.dumps(records)
    for secret in (key["SecretAccessKey"], iamd.secret_access_key, "Correct-Horse-9!", "x" * 40):
        assert secret not in text


def test_cross_account_assume_role_goes_to_both_accounts(iamd: Server, iam: Any) -> None:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    other = json.loads(proc.stdout)
    other_iam = iamd.client("iam", access_key_id=other["AccessKeyId"], secret_access_key=other["SecretAccessKey"])
    trust = policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{iamd.account_id}:root"}, "Action": "sts:AssumeRole"}
    )
    other_iam.create_role(RoleName="Shared", AssumeRolePolicyDocument=trust)
    key, secret = user_with_key(iam, "hopper", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    creds = iamd.client("sts", access_key_id=key, secret_access_key=secret).assume_role(
        RoleArn=f"arn:aws:iam::{other['AccountId']}:role/Shared", RoleSessionName="hop"
    )["Credentials"]

    records = wait_for(iamd, lambda rs: len(named(rs, "AssumeRole")) >= 2)
    copies = named(records, "AssumeRole")
    assert {r["recipientAccountId"] for r in copies} == {iamd.account_id, other["AccountId"]}
    assert len({r["sharedEventID"] for r in copies}) == 1 and len({r["eventID"] for r in copies}) == 2
    theirs = next(r for r in copies if r["recipientAccountId"] == other["AccountId"])
    assert theirs["userIdentity"]["type"] == "AWSAccount" and theirs["userIdentity"]["accountId"] == iamd.account_id
    ours = next(r for r in copies if r["recipientAccountId"] == iamd.account_id)
    assert ours["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    text = json.dumps(records)
    assert creds["SecretAccessKey"] not in text and creds["SessionToken"] not in text and secret not in text


def test_authorization_decisions_are_recorded(iamd: Server, iam: Any) -> None:
    service = service_identity(iam, iamd.account_id)
    alice = user_with_key(iam, "alice", {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"})
    session = assume(
        iamd,
        iam,
        "Reader",
        {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"},
        RoleSessionName="reader",
    )
    client = AuthorizeClient(iamd.url, access_key_id=service[0], secret_access_key=service[1])
    resource = f"arn:aws:myapp:eu-west-1:{iamd.account_id}:document/1"
    url = "https://docs.example/documents/1"
    assert client.authorize(parts_of(signed_request(url, *alice)), "myapp:GetDocument", resource).allowed
    assert not client.authorize(parts_of(signed_request(url, *alice)), "myapp:PutDocument", resource).allowed
    temporary = signed_request(url, session["AccessKeyId"], session["SecretAccessKey"], token=session["SessionToken"])
    assert client.authorize(parts_of(temporary), "myapp:GetDocument", resource).allowed

    records = wait_for(iamd, lambda rs: len(named(rs, "Authorize")) >= 3)
    decisions = named(records, "Authorize")
    allowed, denied, via_session = decisions[:3]
    assert allowed["eventSource"] == "iamd.internal" and "errorCode" not in allowed
    assert allowed["userIdentity"]["arn"].endswith(":user/alice")
    assert allowed["additionalEventData"]["requestedBy"].endswith(":user/docs-service")
    assert allowed["requestParameters"] == {"action": "myapp:GetDocument", "resource": resource}
    assert denied["errorCode"] == "AccessDenied"
    assert "because no identity-based policy allows the myapp:PutDocument action" in denied["errorMessage"]
    assert denied["additionalEventData"]["explanation"].startswith("denied because no identity-based policy")
    assert via_session["userIdentity"]["type"] == "AssumedRole"
    text = json.dumps(records)
    for secret in (alice[1], service[1], session["SecretAccessKey"], session["SessionToken"]):
        assert secret not in text


def _cli_ok(iamd: Server, *args: str) -> str:
    proc = iamd.cli("audit", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_audit_cli_lookup_and_verify(iamd: Server, iam: Any) -> None:
    for name in ("u1", "u2", "u3"):
        iam.create_user(UserName=name)
    wait_for(iamd, lambda rs: len(named(rs, "CreateUser")) >= 3)

    lines = _cli_ok(iamd, "lookup", "--event-name", "CreateUser").splitlines()
    assert [json.loads(line)["EventName"] for line in lines] == ["CreateUser"] * 3
    paged = iamd.cli("audit", "lookup", "--event-name", "CreateUser", "--max-results", "2")
    assert paged.returncode == 0 and len(paged.stdout.splitlines()) == 2
    token = paged.stderr.strip().split("NextToken: ", 1)[1]
    rest = _cli_ok(iamd, "lookup", "--event-name", "CreateUser", "--max-results", "2", "--next-token", token)
    assert len(rest.splitlines()) == 1
    table = _cli_ok(iamd, "lookup", "--user", "root", "--output", "table")
    assert "EventName" in table.splitlines()[0]
    bad = iamd.cli("audit", "lookup", "--max-results", "0")
    assert bad.returncode == 2 and "InvalidMaxResultsException" in bad.stderr

    report = _cli_ok(iamd, "verify")
    assert report.strip().splitlines()[-1].startswith("OK: ")

    engine = _engine(iamd)
    try:
        with engine.begin() as conn:
            seqs = [r[0] for r in conn.execute(sa.text("SELECT seq FROM audit_events ORDER BY seq")).all()]
            assert len(seqs) >= 3
            conn.execute(sa.text("DELETE FROM audit_event_resources WHERE seq = :s"), {"s": seqs[1]})
            conn.execute(sa.text("DELETE FROM audit_events WHERE seq = :s"), {"s": seqs[1]})
            conn.execute(
                sa.text("UPDATE audit_events SET record = replace(record, 'u3', 'u9') WHERE seq = :s"), {"s": seqs[-1]}
            )
    finally:
        engine.dispose()
    broken = iamd.cli("audit", "verify")
    assert broken.returncode == 1
    assert "record 2 is missing" in broken.stdout and "record 3 altered" in broken.stdout
