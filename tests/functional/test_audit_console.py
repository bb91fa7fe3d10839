"""Console sign-in records (ConsoleLogin, CheckMfa) and the MFA lockout record, with secrets kept out."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.test_audit_trail import named, wait_for
from tests.functional.test_console_mfa import wrong_code
from tests.support.console_client import Console, enable_virtual_device, make_user, totp_code
from tests.support.server import Server

PASSWORD = "Alice-Password-1"


def test_sign_ins_succeed_and_fail_on_the_record(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", "Wrong-Password-1").status_code == 401
        assert c.sign_in(iamd.account_id, "Typed-A-Secret-Here", PASSWORD).status_code == 401
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/home"

    records = wait_for(iamd, lambda rs: len(named(rs, "ConsoleLogin")) >= 3)
    wrong, unknown, ok = named(records, "ConsoleLogin")[:3]
    assert wrong["eventSource"] == "signin.amazonaws.com" and wrong["eventType"] == "AwsConsoleSignIn"
    assert wrong["responseElements"] == {"ConsoleLogin": "Failure"}
    assert wrong["errorMessage"] == "Failed authentication"
    assert wrong["userIdentity"]["arn"] == f"arn:aws:iam::{iamd.account_id}:user/alice"
    assert unknown["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert unknown["errorMessage"] == "No username found in supplied account"
    assert ok["responseElements"] == {"ConsoleLogin": "Success"} and "errorMessage" not in ok
    assert ok["additionalEventData"]["MFAUsed"] == "No"
    assert ok["recipientAccountId"] == iamd.account_id
    text = json.dumps(records)
    assert PASSWORD not in text and "Wrong-Password-1" not in text and "Typed-A-Secret-Here" not in text


def test_second_factor_and_lockout_records(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    serial, seed, step = enable_virtual_device(iam, "alice", "alice-phone")
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/mfa"
        bad = wrong_code(seed, step)
        assert c.submit_totp(bad).status_code == 401
        good = totp_code(seed, step + 1)
        assert c.submit_totp(good).headers["location"] == "/console/home"
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/mfa"
        for _ in range(5):
            c.submit_totp(bad)

    records = wait_for(iamd, lambda rs: bool(named(rs, "MfaDeviceLocked")) and len(named(rs, "CheckMfa")) >= 2)
    checks = named(records, "CheckMfa")
    assert checks[0]["responseElements"] == {"CheckMfa": "Failure"}
    assert checks[1]["responseElements"] == {"CheckMfa": "Success"}
    assert checks[1]["additionalEventData"]["MfaType"] == "Virtual MFA"
    login = next(r for r in named(records, "ConsoleLogin") if r["responseElements"]["ConsoleLogin"] == "Success")
    assert login["additionalEventData"]["MFAUsed"] == "Yes"
    assert login["additionalEventData"]["MFAIdentifier"] == serial
    locked = named(records, "MfaDeviceLocked")[0]
    assert locked["eventType"] == "AwsServiceEvent" and locked["userIdentity"]["type"] == "AWSService"
    assert locked["serviceEventDetails"] == {"serialNumber": serial, "lockedSeconds": 30, "failures": 5}
    assert locked["recipientAccountId"] == iamd.account_id
    text = json.dumps(records)
    assert PASSWORD not in text and f'"{good}"' not in text and f'"{bad}"' not in text
    # the seed never appears, in base32 or otherwise
    import base64

    assert base64.b32encode(seed).decode().rstrip("=") not in text


def test_the_audit_page_for_administrators(iamd: Server, iam: Any) -> None:
    make_user(iam, "auditor", PASSWORD, {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"})
    make_user(iam, "nosy", PASSWORD)
    iam.create_user(UserName="visible-one")
    with pytest.raises(ClientError):
        iamd.client("iam", access_key_id="AKIAUNKNOWNKEY000000", secret_access_key="x" * 40).list_users()
    wait_for(iamd, lambda rs: any(r["eventName"] == "CreateUser" for r in rs))

    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "nosy", PASSWORD).headers["location"] == "/console/home"
        refused = c.get("/console/audit")
        assert refused.status_code == 403
        assert "cloudtrail:LookupEvents" in refused.text

    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "auditor", PASSWORD).headers["location"] == "/console/home"
        page = c.get("/console/audit")
        assert page.status_code == 200, page.text
        assert 'id="activity"' in page.text and 'class="calls"' in page.text
        assert "CreateUser" in page.text and "visible-one" in page.text
        only = c.get("/console/audit", params={"event_name": "CreateLoginProfile"})
        assert only.status_code == 200
        rows = re.findall(r'<tr data-event-id="[^"]+"><td><time>[^<]*</time></td><td>([^<]+)</td>', only.text)
        assert rows and set(rows) == {"CreateLoginProfile"}
        bad = c.get("/console/audit", params={"start": "yesterday"})
        assert bad.status_code == 200 and 'id="query-error"' in bad.text
