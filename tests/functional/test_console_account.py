"""Web console pages of a signed-in user: the due password change, switching roles, command line access."""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iamd.store import tables as t
from tests.support.console_client import (
    Console,
    enable_virtual_device,
    error_text,
    make_user,
    server_engine,
    set_cookies,
    text_of,
    totp_code,
)
from tests.support.server import Server

PASSWORD = "Alice-Password-1"
NEW_PASSWORD = "A-Much-Longer-Password-2!"
CHANGE_OWN_PASSWORD = "arn:aws:iam::aws:policy/IAMUserChangePassword"


def change_due(iamd: Server, name: str = "alice") -> Console:
    c = Console(iamd.url)
    response = c.sign_in(iamd.account_id, name, PASSWORD)
    assert (response.status_code, response.headers["location"]) == (303, "/console/password")
    return c


def post_password(c: Console, old: str, new: str, confirm: str | None = None) -> Any:
    c.refresh_csrf("/console/password")
    fields = {"old_password": old, "new_password": new, "confirm_password": new if confirm is None else confirm}
    return c.post("/console/password", fields)


@pytest.mark.parametrize("allowed_by", ["managed-policy", "account-policy"])
def test_forced_password_change(iamd: Server, iam: Any, allowed_by: str) -> None:
    make_user(iam, "alice", PASSWORD, reset_required=True)
    if allowed_by == "managed-policy":
        iam.attach_user_policy(UserName="alice", PolicyArn=CHANGE_OWN_PASSWORD)
        iam.update_account_password_policy(MinimumPasswordLength=20, RequireSymbols=True)
    else:
        iam.update_account_password_policy(
            MinimumPasswordLength=20, RequireSymbols=True, AllowUsersToChangePassword=True
        )
    with change_due(iamd) as c:
        before = c.session_token
        # nothing else opens until the password is changed
        assert c.home().headers["location"] == "/console/password"
        assert c.post("/console/credentials", {}).headers["location"] == "/console/password"
        page = c.get("/console/password")
        assert page.status_code == 200 and 'id="password-form"' in page.text
        assert "<li>At least 20 characters.</li>" in page.text
        assert "At least one symbol" in page.text

        mismatch = post_password(c, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
        assert (mismatch.status_code, error_text(mismatch)) == (400, "The new passwords do not match.")
        weak = post_password(c, PASSWORD, "Short-1!")
        assert weak.status_code == 400
        assert error_text(weak) == "Password does not conform to the account password policy."
        no_symbol = post_password(c, PASSWORD, "LongEnoughButNoSymbols1")
        assert "password policy" in (error_text(no_symbol) or "")
        wrong_old = post_password(c, "Not-The-Password-1", NEW_PASSWORD)
        assert wrong_old.status_code >= 400 and error_text(wrong_old) == "The old password was incorrect."
        assert iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"] is True

        done = post_password(c, PASSWORD, NEW_PASSWORD)
        assert (done.status_code, done.headers["location"]) == (303, "/console/home")
        assert "iamd_session" in set_cookies(done)
        assert c.session_token not in (None, before)
        home = c.home()
        assert home.status_code == 200
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:user/alice"
        assert c.get("/console/password").headers["location"] == "/console/home"
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"] is False
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).status_code == 401
        assert c.sign_in(iamd.account_id, "alice", NEW_PASSWORD).headers["location"] == "/console/home"


def test_forced_password_change_without_permission_is_refused(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, reset_required=True)  # neither IAMUserChangePassword nor the account policy
    with change_due(iamd) as c:
        refused = post_password(c, PASSWORD, NEW_PASSWORD)
        assert refused.status_code == 403
        assert (error_text(refused) or "").startswith(
            "Your permissions do not let you change your password: that needs iam:ChangePassword."
        )
        assert c.home().headers["location"] == "/console/password"
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"] is True


def setup_role(iamd: Server, iam: Any) -> str:
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
    role_arn: str = iam.create_role(RoleName="admin", Path="/ops/", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    assert role_arn == f"arn:aws:iam::{iamd.account_id}:role/ops/admin"
    make_user(iam, "alice", PASSWORD, {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})
    make_user(iam, "bob", PASSWORD)  # not allowed to assume it
    return role_arn


def caller_arn(iamd: Server, creds: dict[str, str]) -> str:
    assert creds["AWS_ENDPOINT_URL"] == iamd.url
    assert creds["AWS_DEFAULT_REGION"] == "us-east-1"
    assert creds["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    sts = iamd.client("sts", creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"])
    return str(sts.get_caller_identity()["Arn"])


def switch(c: Console, account: str, role: str) -> Any:
    c.refresh_csrf("/console/home")
    return c.post("/console/switch-role", {"account": account, "role": role})


def test_switch_role_and_command_line_credentials(iamd: Server, iam: Any) -> None:
    role_arn = setup_role(iamd, iam)
    user_arn = f"arn:aws:iam::{iamd.account_id}:user/alice"
    assumed = f"arn:aws:sts::{iamd.account_id}:assumed-role/admin/alice"
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert caller_arn(iamd, c.credentials()) == user_arn

        switched = switch(c, iamd.account_id, "admin")  # the role's name: the path is looked up
        assert (switched.status_code, switched.headers["location"]) == (303, "/console/home")
        home = c.home()
        assert text_of(home, "arn") == assumed
        assert text_of(home, "signed-in-as") == user_arn
        assert text_of(home, "identity-name") == "admin / alice"
        assert 'id="switch-back"' in home.text
        expires = text_of(home, "role-expires") or ""
        left = datetime.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        remaining = (left - datetime.datetime.now(datetime.UTC)).total_seconds()
        assert 3300 < remaining <= 3600  # one hour, as AWS's console

        page = c.post("/console/credentials", {})
        assert page.status_code == 200 and f"<code>{assumed}</code>" in page.text
        creds = c.credentials()
        assert caller_arn(iamd, creds) == assumed
        token_line = r"^aws_session_token = " + re.escape(creds["AWS_SESSION_TOKEN"]) + "(</pre>)?$"
        assert re.search(token_line, page.text, re.M)  # in the ~/.aws/credentials snippet
        assert re.search(r'<pre id="profile-config">\[profile iamd\]\nregion = ', page.text)

        c.refresh_csrf("/console/home")
        back = c.post("/console/switch-back", {})
        assert (back.status_code, back.headers["location"]) == (303, "/console/home")
        home = c.home()
        assert text_of(home, "arn") == user_arn and 'id="switch-back"' not in home.text
        assert caller_arn(iamd, c.credentials()) == user_arn
        # the role session's credentials handed out before still work (they are STS credentials)
        assert caller_arn(iamd, creds) == assumed

        # by ARN, with the account alias in the account field
        iam.create_account_alias(AccountAlias="acme-corp")
        assert switch(c, "acme-corp", role_arn).status_code == 303
        assert c.arn() == assumed
        assert switch(c, "acme-corp", "admin").status_code == 303  # alias + name
        assert c.arn() == assumed


def test_switch_role_refused(iamd: Server, iam: Any) -> None:
    role_arn = setup_role(iamd, iam)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "bob", PASSWORD)
        refused = switch(c, iamd.account_id, "admin")
        assert refused.status_code == 403
        message = error_text(refused) or ""
        assert message.startswith(f"You cannot switch to {role_arn}: ")
        assert f"User: arn:aws:iam::{iamd.account_id}:user/bob is not authorized to perform: sts:AssumeRole" in message
        assert text_of(refused, "arn") == f"arn:aws:iam::{iamd.account_id}:user/bob"
        assert c.arn() == f"arn:aws:iam::{iamd.account_id}:user/bob"
        assert caller_arn(iamd, c.credentials()) == f"arn:aws:iam::{iamd.account_id}:user/bob"
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        missing = switch(c, iamd.account_id, "no-such-role")
        assert missing.status_code >= 400
        assert (error_text(missing) or "").startswith(
            f"You cannot switch to arn:aws:iam::{iamd.account_id}:role/no-such-role: "
        )
        assert c.arn() == f"arn:aws:iam::{iamd.account_id}:user/alice"


def test_mfa_at_sign_in_counts_for_roles_that_require_it(iamd: Server, iam: Any) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{iamd.account_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        ],
    }
    role_arn = iam.create_role(RoleName="guarded", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allow = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
    make_user(iam, "alice", PASSWORD, allow)
    make_user(iam, "bob", PASSWORD, allow)
    _, seed, step = enable_virtual_device(iam, "alice", "alice-phone")
    assumed = f"arn:aws:sts::{iamd.account_id}:assumed-role/guarded/alice"
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert c.submit_totp(totp_code(seed, step + 1)).headers["location"] == "/console/home"
        # the console's own user credentials carry the sign-in's MFA: the CLI may assume the role
        creds = c.credentials()
        sts = iamd.client("sts", creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"])
        out = sts.assume_role(RoleArn=role_arn, RoleSessionName="cli")
        assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{iamd.account_id}:assumed-role/guarded/cli"
        assert switch(c, iamd.account_id, "guarded").status_code == 303
        assert c.arn() == assumed
    with Console(iamd.url) as c:  # no MFA at sign-in: refused
        c.sign_in(iamd.account_id, "bob", PASSWORD)
        refused = switch(c, iamd.account_id, "guarded")
        assert refused.status_code == 403
        assert "is not authorized to perform: sts:AssumeRole" in (error_text(refused) or "")
        creds = c.credentials()
        sts = iamd.client("sts", creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"])
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="cli")
        assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_expired_password_must_be_changed_at_sign_in(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    iam.update_account_password_policy(MaxPasswordAge=1, AllowUsersToChangePassword=True)
    with server_engine(iamd).begin() as conn:  # the password was set three days ago
        conn.execute(t.login_profiles.update().values(password_changed_at=time.time() - 3 * 86400))
    with Console(iamd.url) as c:
        response = c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert (response.status_code, response.headers["location"]) == (303, "/console/password")
