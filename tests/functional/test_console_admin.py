"""The console's administration pages, over HTTP (no browser), on SQLite and PostgreSQL.

Every page action is the IAM call it stands for, made as the signed-in identity: the tests check
what the pages show, what the server holds afterwards (through boto3), that changes answer with
a redirect (POST-redirect-GET), and that a missing permission gives the "Not allowed" page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.functional.test_console_security import add_authenticator_app
from tests.support.console_client import (
    Console,
    enable_virtual_device,
    error_text,
    make_user,
    policy_document,
    text_of,
    totp_code,
)
from tests.support.server import Server

SELF_SERVICE = Path(__file__).parents[2] / "docs" / "policies" / "self-manage-mfa.json"

PASSWORD = "Admin-Password-1"
IAM_FULL = "arn:aws:iam::aws:policy/IAMFullAccess"


def admin_console(iamd: Server, iam: Any, name: str = "admin") -> Console:
    make_user(iam, name, PASSWORD)
    iam.attach_user_policy(UserName=name, PolicyArn=IAM_FULL)
    c = Console(iamd.url)
    assert c.sign_in(iamd.account_id, name, PASSWORD).headers["location"] == "/console/home"
    return c


def do(c: Console, page: str, op: str, **fields: str) -> httpx.Response:
    """Post one change from ``page``; it must answer with a redirect (POST-redirect-GET)."""
    c.refresh_csrf(page)
    response = c.post("/console/do", {"op": op, **fields})
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return response


def follow(c: Console, response: httpx.Response) -> httpx.Response:
    return c.get(response.headers["location"])


def test_users_list_and_user_page(iamd: Server, iam: Any) -> None:
    with admin_console(iamd, iam) as c:
        created = do(c, "/console/users", "create-user", UserName="bob")
        assert created.headers["location"] == "/console/user?name=bob"
        page = follow(c, created)
        assert (page.status_code, text_of(page, "notice")) == (200, "User bob was created.")
        assert text_of(page, "user-arn") == f"arn:aws:iam::{iamd.account_id}:user/bob"
        assert text_of(follow(c, created), "notice") is None  # said once

        # login profile: set, require a change, then the API sees it
        follow(c, do(c, "/console/user?name=bob", "create-login", UserName="bob", Password="Bob-Password-12"))
        assert iam.get_login_profile(UserName="bob")["LoginProfile"]["PasswordResetRequired"] is False
        page = follow(c, do(c, "/console/user?name=bob", "update-login", UserName="bob", PasswordResetRequired="true"))
        assert iam.get_login_profile(UserName="bob")["LoginProfile"]["PasswordResetRequired"] is True
        assert "a new password is required" in (text_of(page, "console-access") or "")
        # a reset with the box unticked clears the requirement (the form states it)
        follow(c, do(c, "/console/user?name=bob", "update-login", UserName="bob", Password="Bob-Password-34"))
        assert iam.get_login_profile(UserName="bob")["LoginProfile"]["PasswordResetRequired"] is False

        # access key: the secret is shown once, on the page after the redirect
        made = do(c, "/console/user?name=bob", "create-key", UserName="bob")
        assert "Secret" not in made.text
        shown = follow(c, made)
        key_id, secret = text_of(shown, "new-key-id"), text_of(shown, "new-key-secret")
        assert key_id and secret and len(secret) == 40
        assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]] == [key_id]
        again = c.get("/console/user?name=bob")
        assert secret not in again.text and text_of(again, "new-key-secret") is None
        sts = iamd.client("sts", access_key_id=key_id, secret_access_key=secret)
        assert sts.get_caller_identity()["Arn"].endswith(":user/bob")
        follow(c, do(c, "/console/user?name=bob", "key-status", UserName="bob", AccessKeyId=key_id, Status="Inactive"))
        assert iam.list_access_keys(UserName="bob")["AccessKeyMetadata"][0]["Status"] == "Inactive"

        # groups, policies, tags
        iam.create_group(GroupName="devs")
        follow(c, do(c, "/console/user?name=bob", "add-to-group", UserName="bob", GroupName="devs"))
        follow(c, do(c, "/console/user?name=bob", "attach-user", UserName="bob", PolicyArn=IAM_FULL))
        tagged = follow(
            c,
            do(
                c,
                "/console/user?name=bob",
                "tag-user",
                UserName="bob",
                **{"Tags.member.1.Key": "team", "Tags.member.1.Value": ""},
            ),
        )
        assert 'id="user-groups"' in tagged.text and ">devs</a>" in tagged.text
        assert iam.list_user_tags(UserName="bob")["Tags"] == [{"Key": "team", "Value": ""}]
        assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="bob")["AttachedPolicies"]] == [
            IAM_FULL
        ]

        # the list shows the columns
        listing = c.get("/console/users")
        row = re.search(r'<tr data-user="bob">(.*?)</tr>', listing.text, re.DOTALL)
        assert row is not None
        assert "enabled" in row.group(1)  # console access
        assert "no active key" in row.group(1)  # the one key is inactive
        assert '<span class="warn">none</span>' in row.group(1)  # no MFA
        # search
        assert 'data-user="bob"' not in c.get("/console/users?q=adm").text
        assert 'data-user="admin"' in c.get("/console/users?q=ADM").text

        # a failing change says why, and still redirects
        failed = follow(c, do(c, "/console/user?name=bob", "delete-user", UserName="bob", confirm_name="bob"))
        assert "DeleteConflict" in failed.text or "must" in (error_text(failed) or "")
        assert iam.get_user(UserName="bob")["User"]["UserName"] == "bob"


def test_users_list_pages(iamd: Server, iam: Any) -> None:
    for i in range(22):
        iam.create_user(UserName=f"user{i:02d}")
    with admin_console(iamd, iam) as c:
        first = c.get("/console/users")
        assert first.text.count("<tr data-user=") == 20
        m = re.search(r'id="next-page" href="([^"]+)"', first.text)
        assert m is not None
        second = c.get(m.group(1).replace("&amp;", "&"))
        assert second.text.count("<tr data-user=") == 3  # 23 users with admin


def test_not_allowed_page(iamd: Server, iam: Any) -> None:
    make_user(iam, "carol", PASSWORD)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "carol", PASSWORD)
        for path, action in [
            ("/console/users", "iam:ListUsers"),
            ("/console/roles", "iam:ListRoles"),
            ("/console/policies", "iam:ListPolicies"),
            ("/console/user?name=carol", "iam:GetUser"),
            ("/console/access", "iam:GetAccountAuthorizationDetails"),
        ]:
            page = c.get(path)
            assert page.status_code == 403, path
            assert text_of(page, "not-allowed") == "Not allowed"
            assert text_of(page, "denied-action") == action
            assert "Traceback" not in page.text
        # a change it may not make is refused with the same words, after a redirect
        refused = follow(c, do(c, "/console/home", "create-user", UserName="mallory"))
        assert (error_text(refused) or "").startswith("Not allowed: you may not perform iam:CreateUser")
        assert "mallory" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_partial_rights_show_what_is_allowed(iamd: Server, iam: Any) -> None:
    make_user(iam, "dora", PASSWORD, {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "*"})
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "dora", PASSWORD)
        listing = c.get("/console/users")
        assert listing.status_code == 200
        row = re.search(r'<tr data-user="dora">(.*?)</tr>', listing.text, re.DOTALL)
        assert row is not None and 'title="not allowed to see"' in row.group(1)
        page = c.get("/console/user?name=dora")
        assert page.status_code == 200
        assert "Not allowed: you may not see the access keys (<code>iam:ListAccessKeys</code>)" in page.text


def test_csrf_and_origin_on_changes(iamd: Server, iam: Any) -> None:
    with admin_console(iamd, iam) as c:
        c.refresh_csrf("/console/users")
        no_token = c.post("/console/do", {"op": "create-user", "UserName": "eve"}, csrf=None)
        assert no_token.status_code == 403
        other = c.http.post(
            "/console/do",
            data={"op": "create-user", "UserName": "eve", "csrf": c.csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert other.status_code == 403
        assert "eve" not in [u["UserName"] for u in iam.list_users()["Users"]]
        page = c.get("/console/users")
        assert "default-src 'none'" in page.headers["content-security-policy"]


def test_groups_roles_and_policy_versions(iamd: Server, iam: Any) -> None:
    with admin_console(iamd, iam) as c:
        follow(c, do(c, "/console/groups", "create-group", GroupName="ops"))
        follow(c, do(c, "/console/group?name=ops", "add-member", GroupName="ops", UserName="admin"))
        assert [u["UserName"] for u in iam.get_group(GroupName="ops")["Users"]] == ["admin"]

        arn = iam.create_policy(
            PolicyName="p",
            PolicyDocument=policy_document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        )["Policy"]["Arn"]
        iam.create_policy_version(
            PolicyArn=arn,
            PolicyDocument=policy_document({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}),
        )
        page = c.get(f"/console/policy?arn={arn}&from=v1&to=v2")
        assert page.status_code == 200
        diff = text_of(page, "diff") or ""
        changed = [line.split()[0] + " " + line.split()[-1] for line in diff.splitlines() if line[:1] in "+-"]
        assert changed == ['- "s3:GetObject",', '+ "s3:PutObject",']
        follow(c, do(c, f"/console/policy?arn={arn}", "set-default", PolicyArn=arn, VersionId="v2"))
        assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
        follow(c, do(c, "/console/group?name=ops", "attach-group", GroupName="ops", PolicyArn=arn))
        assert ">ops</a>" in (c.get(f"/console/policy?arn={arn}").text)
        listing = c.get("/console/policies?scope=Local")
        assert ">p</a>" in listing.text and "IAMFullAccess" not in listing.text
        assert "IAMFullAccess" in c.get("/console/policies?scope=AWS&q=iamfull").text

        trust = policy_document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{iamd.account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        )
        iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)
        role = c.get("/console/role?name=deploy")
        assert role.status_code == 200
        assert "7200 seconds" in (text_of(role, "max-session") or "")
        assert text_of(role, "last-used") == "never"
        assert 'id="switch-to-role"' in role.text
        follow(c, do(c, "/console/role?name=deploy", "update-role", RoleName="deploy", MaxSessionDuration="3600"))
        assert iam.get_role(RoleName="deploy")["Role"]["MaxSessionDuration"] == 3600


def test_editor_saves_validates_and_simulates(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="bob")
    with admin_console(iamd, iam) as c:
        c.refresh_csrf("/console/policy/edit?target=new-policy")
        bad = c.post_json(
            "/console/policy/validate",
            {"document": '{\n  "Version": "2012-10-17",\n  "Statement": [}', "kind": "managed"},
        )
        assert bad.status_code == 200
        assert (bad.json()["ok"], bad.json()["line"]) == (False, 3)
        wrong = (
            '{\n "Version": "2012-10-17",\n "Statement": [\n'
            '  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},\n'
            '  {"Effect": "Allow", "Action": "s3:GetObject"}\n ]\n}'
        )
        answer = c.post_json("/console/policy/validate", {"document": wrong, "kind": "managed"}).json()
        assert answer["ok"] is False and answer["line"] == 5 and answer["code"] == "MalformedPolicyDocument"
        good = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
            indent=2,
        )
        assert c.post_json("/console/policy/validate", {"document": good, "kind": "managed"}).json()["ok"] is True

        # an invalid draft is kept on the page with IAM's message
        kept = c.post(
            "/console/policy/edit",
            {"target": "new-policy", "PolicyName": "reader", "document": wrong, "intent": "save"},
        )
        assert kept.status_code == 400 and "s3:GetObject" in kept.text
        # simulate: allowed and denied per action, the deciding lines of the draft
        sim = c.post(
            "/console/policy/edit",
            {
                "target": "new-policy",
                "PolicyName": "reader",
                "document": good,
                "intent": "simulate",
                "sim_actions": "s3:GetObject s3:PutObject",
            },
        )
        assert sim.status_code == 200
        assert 'data-action="s3:GetObject" data-decision="allowed"' in sim.text
        assert 'data-action="s3:PutObject" data-decision="implicitDeny"' in sim.text
        assert "this draft, lines" in sim.text
        saved = c.post(
            "/console/policy/edit", {"target": "new-policy", "PolicyName": "reader", "document": good, "intent": "save"}
        )
        assert saved.status_code == 303
        arn = f"arn:aws:iam::{iamd.account_id}:policy/reader"
        assert saved.headers["location"] == f"/console/policy?arn={arn.replace(':', '%3A').replace('/', '%2F')}"
        assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"] == json.loads(good)

        # an inline policy on a user, then the simulator with the user's own policies
        c.refresh_csrf("/console/policy/edit?target=user&UserName=bob")
        put = c.post(
            "/console/policy/edit",
            {"target": "user", "UserName": "bob", "PolicyName": "inline", "document": good, "intent": "save"},
        )
        assert put.status_code == 303 and put.headers["location"] == "/console/user?name=bob"
        assert iam.list_user_policies(UserName="bob")["PolicyNames"] == ["inline"]

        # a draft simulated together with bob's own policies: each action names what decided it
        bob = f"arn:aws:iam::{iamd.account_id}:user/bob"
        put = policy_document({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})
        c.refresh_csrf("/console/policy/edit?target=new-policy")
        both = c.post(
            "/console/policy/edit",
            {
                "target": "new-policy",
                "document": put,
                "intent": "simulate",
                "sim_principal": bob,
                "sim_actions": "s3:GetObject, s3:PutObject, s3:DeleteObject",
            },
        )
        assert both.status_code == 200
        assert f'<option value="{bob}">' in both.text  # the principal field suggests the account's users
        get = re.search(r'<li data-action="s3:GetObject" data-decision="allowed">(.*?)</li>', both.text, re.S)
        assert get is not None and "user_bob_inline" in get.group(1) and "this draft" not in get.group(1)
        assert 'data-action="s3:PutObject" data-decision="allowed"' in both.text
        assert 'data-action="s3:DeleteObject" data-decision="implicitDeny"' in both.text

        # a trust policy draft decides sts:AssumeRole for the user named
        trust = policy_document({"Effect": "Allow", "Principal": {"AWS": bob}, "Action": "sts:AssumeRole"})
        for user, decision in (("bob", "allowed"), ("admin", "implicitDeny")):
            c.refresh_csrf("/console/policy/edit?target=new-role")
            trusted = c.post(
                "/console/policy/edit",
                {
                    "target": "new-role",
                    "RoleName": "r",
                    "document": trust,
                    "intent": "simulate",
                    "sim_principal": f"arn:aws:iam::{iamd.account_id}:user/{user}",
                    "sim_actions": "sts:AssumeRole",
                    "sim_resources": f"arn:aws:iam::{iamd.account_id}:role/r",
                },
            )
            assert f'data-action="sts:AssumeRole" data-decision="{decision}"' in trusted.text, user


def test_account_page_and_credential_report(iamd: Server, iam: Any) -> None:
    with admin_console(iamd, iam) as c:
        follow(c, do(c, "/console/account", "create-alias", AccountAlias="example-corp"))
        assert iam.list_account_aliases()["AccountAliases"] == ["example-corp"]
        page = follow(
            c, do(c, "/console/account", "password-policy", MinimumPasswordLength="12", RequireNumbers="true")
        )
        assert text_of(page, "notice") == "The password policy was saved."
        pp = iam.get_account_password_policy()["PasswordPolicy"]
        assert (pp["MinimumPasswordLength"], pp["RequireNumbers"], pp["RequireSymbols"]) == (12, True, False)
        assert "Users" in (text_of(c.get("/console/account"), "summary") or "")
        c.refresh_csrf("/console/account")
        report = c.post("/console/account/credential-report", {})
        assert report.status_code == 200
        assert report.headers["content-type"].startswith("text/csv")
        assert report.text.splitlines()[0].startswith("user,arn,user_creation_time")
        assert any(line.startswith("admin,") for line in report.text.splitlines())


def test_who_can_assume_and_reachable_roles(iamd: Server, iam: Any) -> None:
    acct = iamd.account_id
    make_user(iam, "alice", PASSWORD, {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    iam.create_user(UserName="nobody")
    trust_alice = policy_document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/alice"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName="hop", AssumeRolePolicyDocument=trust_alice)
    iam.put_role_policy(
        RoleName="hop",
        PolicyName="chain",
        PolicyDocument=policy_document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    trust_hop = policy_document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:role/hop"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName="target", AssumeRolePolicyDocument=trust_hop)
    with admin_console(iamd, iam) as c:
        page = c.get("/console/access/role?name=target")
        assert page.status_code == 200
        svg = text_of(page, "graph") is not None and re.search(r"<svg.*?</svg>", page.text, re.DOTALL)
        assert svg
        assert 'data-from="role hop" data-to="role target"' in page.text
        assert 'data-from="user alice" data-to="role hop"' in page.text
        assert "nobody" not in svg.group(0)
        assert "user alice → role hop → role target" in (text_of(page, "paths") or "")
        reach = c.get("/console/access/user?name=alice")
        assert "user alice → role hop → role target" in (text_of(reach, "paths") or "")
        effective = c.get(f"/console/access?arn=arn:aws:iam::{acct}:user/alice")
        assert 'data-action="sts:AssumeRole"' in effective.text
        assert '<li class="allow" data-action="sts:AssumeRole">' in effective.text


def test_shipped_self_service_policy_lets_alice_manage_her_mfa(iamd: Server, iam: Any) -> None:
    """README's step: docs/policies/self-manage-mfa.json really lets a user manage her own devices."""
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD, PasswordResetRequired=True)
    iam.put_user_policy(UserName="alice", PolicyName="self-mfa", PolicyDocument=SELF_SERVICE.read_text())
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/password"
        c.refresh_csrf("/console/password")
        fields = {"old_password": PASSWORD, "new_password": "Alice-New-Pass-2", "confirm_password": "Alice-New-Pass-2"}
        assert c.post("/console/password", fields).headers["location"] == "/console/home"
        serial, seed, step = add_authenticator_app(c, "alice-phone")
        # without MFA in this session, removing is refused, and the page says why in words
        c.refresh_csrf("/console/security")
        refused = c.post("/console/security/remove", {"serial": serial})
        assert "a policy explicitly denies iam:DeactivateMFADevice (some do until you sign in with MFA)" in (
            error_text(refused) or ""
        )
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", "Alice-New-Pass-2").headers["location"] == "/console/mfa"
        assert c.submit_totp(totp_code(seed, step + 1)).headers["location"] == "/console/home"
        c.refresh_csrf("/console/security")
        removed = c.post("/console/security/remove", {"serial": serial})
        assert text_of(removed, "notice") == "The device was removed."
    assert iam.list_mfa_devices(UserName="alice")["MFADevices"] == []
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_root_administers_a_users_mfa_device(iamd: Server, iam: Any) -> None:
    """Root's own-device shortcut (no UserName) must not swallow an administrator's call on a user's device."""
    out = iamd.cli(
        "accounts", "set-root-login", iamd.account_id, "--email", "root@example.com", input_text="Root-Password-123\n"
    )
    assert out.returncode == 0, out.stderr
    make_user(iam, "alice", PASSWORD)
    serial, _, _ = enable_virtual_device(iam, "alice", "alice-phone")
    with Console(iamd.url) as c:
        assert c.sign_in_root("root@example.com", "Root-Password-123").headers["location"] == "/console/home"
        page = c.get("/console/user?name=alice")
        assert serial in (text_of(page, "user-mfa") or "")
        done = follow(c, do(c, "/console/user?name=alice", "deactivate-mfa", UserName="alice", SerialNumber=serial))
        assert text_of(done, "notice") == f"MFA device {serial} was deactivated."
    assert iam.list_mfa_devices(UserName="alice")["MFADevices"] == []
