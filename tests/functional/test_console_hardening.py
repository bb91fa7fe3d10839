"""What a review of the console found, each pinned by a test: validation, root devices, expiry, sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iamd.store import tables as t
from tests.functional.test_console_security import add_authenticator_app, serials
from tests.support.console_client import (
    SELF_SERVICE_MFA,
    Console,
    error_text,
    make_user,
    opens_home,
    server_engine,
)
from tests.support.server import Server, postgres_database, start_server
from tests.support.soft_authenticator import SoftAuthenticator

PASSWORD = "Alice-Password-1"
ROOT_PASSWORD = "Root-Password-123"


def test_console_forms_get_the_apis_validation(iamd: Server, iam: Any) -> None:
    make_user(
        iam, "alice", PASSWORD, SELF_SERVICE_MFA, {"Effect": "Allow", "Action": "iam:ChangePassword", "Resource": "*"}
    )
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        c.refresh_csrf("/console/security")
        for bad in ("a/b/c", "<x>", "ünï"):
            refused = c.post("/console/security/virtual-mfa", {"name": bad})
            assert refused.status_code == 400
            assert "validation error" in (error_text(refused) or "")
        c.refresh_csrf("/console/security")
        too_long = "Aa1!" * 40
        refused = c.post(
            "/console/security/password",
            {"old_password": PASSWORD, "new_password": too_long, "confirm_password": too_long},
        )
        assert refused.status_code == 400
        assert "validation error" in (error_text(refused) or "")
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_a_one_letter_user_can_still_switch_roles(iamd: Server, iam: Any) -> None:
    import json

    make_user(iam, "e", PASSWORD, {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{iamd.account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="ops", AssumeRolePolicyDocument=json.dumps(trust))
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "e", PASSWORD)
        c.refresh_csrf("/console/home")
        switched = c.post("/console/switch-role", {"account": iamd.account_id, "role": "ops"})
        assert switched.status_code == 303, error_text(switched)
        assert c.arn() == f"arn:aws:sts::{iamd.account_id}:assumed-role/ops/e-console"


def test_root_devices_never_land_on_a_user_named_like_the_account(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName=iamd.account_id)
    out = iamd.cli(
        "accounts", "set-root-login", iamd.account_id, "--email", "root@example.com", input_text=ROOT_PASSWORD + "\n"
    )
    assert out.returncode == 0, out.stderr
    with Console(iamd.url) as c:
        c.sign_in_root("root@example.com", ROOT_PASSWORD)
        serial, _, _ = add_authenticator_app(c, "root-phone")
        assert serials(iam) == [serial]  # the root's
        assert serials(iam, iamd.account_id) == []  # not the IAM user's
        c.refresh_csrf("/console/security")
        removed = c.post("/console/security/remove", {"serial": serial})
        assert removed.status_code == 200, error_text(removed)
    assert serials(iam) == []


def test_a_passkey_does_not_get_around_a_hard_password_expiry(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    passkey = SoftAuthenticator()
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert c.register_fido(passkey, "phone").status_code == 200
    iam.update_account_password_policy(MaxPasswordAge=1, HardExpiry=True)
    with server_engine(iamd).begin() as conn:
        conn.execute(t.login_profiles.update().values(password_changed_at=time.time() - 3 * 86400))
    with Console(iamd.url) as c:
        refused = c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert refused.status_code == 401 and "expired" in (error_text(refused) or "")
    with Console(iamd.url) as c:
        c.refresh_csrf("/console")
        refused, _ = c.authenticate_fido(passkey)
        assert refused.status_code == 401 and "expired" in refused.json()["error"]
        assert c.session_token is None


def test_a_new_password_or_no_login_profile_ends_console_sessions(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        first = c.session_token
    assert first is not None
    assert opens_home(iamd.url, "iamd_session", first).status_code == 200
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)  # no new password: still signed in
    assert opens_home(iamd.url, "iamd_session", first).status_code == 200
    iam.update_login_profile(UserName="alice", Password="Another-Password-2")
    assert opens_home(iamd.url, "iamd_session", first).status_code == 303
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", "Another-Password-2")
        second = c.session_token
    assert second is not None
    iam.delete_login_profile(UserName="alice")
    assert opens_home(iamd.url, "iamd_session", second).status_code == 303


def test_deeply_nested_json_is_refused_not_a_server_error(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        page = c.get("/console/security")
        assert page.status_code == 200
        answer = c.http.post(
            "/console/webauthn/register/verify",
            content=b"[" * 50_000,
            headers={"Content-Type": "application/json", "X-CSRF-Token": c.csrf},
        )
        assert 400 <= answer.status_code < 500


@pytest.fixture(params=["sqlite", "postgresql"])
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
        with postgres_database() as url:
            a = start_server(tmp_path / "a", url)
            (tmp_path / "b").mkdir()
            (tmp_path / "b" / "master.key").write_bytes((tmp_path / "a" / "master.key").read_bytes())
            b = start_server(tmp_path / "b", url)
            try:
                yield a, b
            finally:
                a.stop()
                b.stop()
    else:
        a = start_server(tmp_path / "shared")
        b = start_server(tmp_path / "shared")
        try:
            yield a, b
        finally:
            a.stop()
            b.stop()


def test_a_deny_added_on_another_node_reaches_the_console(two_nodes: tuple[Server, Server]) -> None:
    import json

    a, b = two_nodes
    iam_a = a.client("iam")
    make_user(iam_a, "bob", PASSWORD, SELF_SERVICE_MFA)
    with Console(b.url) as c:
        c.sign_in(b.account_id, "bob", PASSWORD)
        assert "explicitly denies" not in c.get("/console/security").text
        deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}
        iam_a.put_user_policy(UserName="bob", PolicyName="deny", PolicyDocument=json.dumps(deny))
        time.sleep(1.5)  # the documented bound is twice IAMD_CACHE_REFRESH_SECONDS (0.5 s in the tests)
        page = c.get("/console/security")  # no API call reaches node b in between
        assert "a policy explicitly denies iam:ListMFADevices" in page.text
        c.refresh_csrf("/console/security")
        refused = c.post("/console/security/virtual-mfa", {"name": "late"})
        assert refused.status_code == 403
    assert iam_a.list_virtual_mfa_devices()["VirtualMFADevices"] == []
