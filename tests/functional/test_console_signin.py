"""Web console sign-in over HTTP (httpx, no browser), on SQLite and PostgreSQL: passwords, cookies,
CSRF, sign-out, root sign-in and the pages' security headers."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from iamd.store import tables as t
from tests.support.console_client import (
    FORM_EXPIRED,
    INCORRECT,
    OTHER_SITE,
    Console,
    cookie_attributes,
    error_text,
    make_user,
    opens_home,
    server_engine,
    set_cookies,
    text_of,
)
from tests.support.server import Server

PASSWORD = "Alice-Password-1"
ROOT_PASSWORD = "Root-Password-123"


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_pages_carry_security_headers(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    with Console(iamd.url) as c:
        page = c.get("/console")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert_security_headers(page)
        assert 'id="passkey-signin"' in page.text  # the aws partition offers passkeys
        pre = set_cookies(page)["iamd_pre"]
        assert {"httponly", "samesite", "path"} <= cookie_attributes(pre) and "secure" not in cookie_attributes(pre)
        assert "SameSite=Strict" in pre

        gone = c.get("/console/home")  # a redirect carries them as well
        assert (gone.status_code, gone.headers["location"]) == (303, "/console")
        assert_security_headers(gone)

        refused = c.post("/console/signin", {"kind": "user"}, csrf=None)  # an error page
        assert refused.status_code == 403
        assert_security_headers(refused)

        json_refused = c.post_json("/console/webauthn/authenticate/options", {}, csrf=None)
        assert json_refused.status_code == 403
        assert json_refused.headers["content-type"] == "application/json"
        assert json_refused.json() == {"error": FORM_EXPIRED}
        assert_security_headers(json_refused)

        assert c.sign_in(iamd.account_id, "alice", PASSWORD).status_code == 303
        home = c.home()
        assert home.status_code == 200
        assert_security_headers(home)

        static = c.get("/console/static/console.js")
        assert static.status_code == 200 and static.headers["content-type"].startswith("text/javascript")
        assert c.get("/console/static/../handler.py").status_code == 404
        assert c.get("/console/no-such-page").status_code == 404


def test_wrong_account_user_or_password_all_get_the_same_answer(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    iam.create_user(UserName="carol")  # no login profile: no console access
    iam.create_account_alias(AccountAlias="acme-corp")
    attempts = [
        ("999999999999", "alice", PASSWORD),  # unknown account
        ("no-such-alias", "alice", PASSWORD),  # unknown alias
        (iamd.account_id, "bob", PASSWORD),  # unknown user
        (iamd.account_id, "carol", PASSWORD),  # a user without a password
        (iamd.account_id, "alice", "Not-The-Password-1"),  # wrong password
        ("acme-corp", "alice", "alice-password-1"),  # wrong password (case matters), via the alias
    ]
    for account, user, password in attempts:
        with Console(iamd.url) as c:
            response = c.sign_in(account, user, password)
            assert response.status_code == 401, (account, user)
            assert error_text(response) == INCORRECT, (account, user)
            assert "iamd_session" not in set_cookies(response)
            assert c.session_token is None
            assert "location" not in response.headers
            assert c.get("/console/home").headers["location"] == "/console"
    # the form is shown again, with what was typed (but never the password)
    with Console(iamd.url) as c:
        again = c.sign_in(iamd.account_id, "alice", "Not-The-Password-1")
        assert 'name="username" autocomplete="username webauthn" required value="alice"' in again.text
        assert "Not-The-Password-1" not in again.text
    assert "PasswordLastUsed" not in iam.get_user(UserName="alice")["User"]


def test_correct_password_signs_in_with_a_strict_http_only_cookie(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    with Console(iamd.url) as c:
        response = c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/home"
        line = set_cookies(response)["iamd_session"]
        assert line.startswith(f"iamd_session={c.session_token};")
        assert len(c.session_token or "") >= 40
        attributes = cookie_attributes(line)
        assert {"httponly", "samesite", "path"} <= attributes
        assert "SameSite=Strict" in line and "Path=/" in line
        assert "secure" not in attributes  # plain HTTP here; see test_console_servers for TLS
        home = c.home()
        assert home.status_code == 200
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:user/alice"
        assert text_of(home, "account-id") == iamd.account_id
        assert text_of(home, "identity-name") == "alice"
        assert text_of(home, "mfa-state") == "not used"
        # signed in: the sign-in page sends you home
        assert c.get("/console").headers["location"] == "/console/home"
    # the database holds a hash of the cookie, not the cookie
    with server_engine(iamd).connect() as conn:
        ids = [r.id for r in conn.execute(sa.select(t.console_sessions.c.id))]
    assert len(ids) == 1 and ids[0] != c.session_token and len(ids[0]) == 64
    assert "PasswordLastUsed" in iam.get_user(UserName="alice")["User"]


def test_account_alias_instead_of_the_id(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    iam.create_account_alias(AccountAlias="acme-corp")
    with Console(iamd.url) as c:
        response = c.sign_in("acme-corp", "ALICE", PASSWORD)  # user names are case-insensitive
        assert (response.status_code, response.headers["location"]) == (303, "/console/home")
        assert c.arn() == f"arn:aws:iam::{iamd.account_id}:user/alice"


def test_csrf_and_origin_checks(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    fields = {"kind": "user", "account": iamd.account_id, "username": "alice", "password": PASSWORD}
    with Console(iamd.url) as c, Console(iamd.url) as other:
        c.refresh_csrf()
        pre_csrf = c.csrf
        for token in (None, "", "0" * 64, other.csrf):  # none, empty, made up, another browser's
            response = c.post("/console/signin", fields, csrf=token)
            assert response.status_code == 403, token
            assert error_text(response) == FORM_EXPIRED
            assert "iamd_session" not in set_cookies(response)
        evil = c.post("/console/signin", fields, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert error_text(evil) == OTHER_SITE
        assert "iamd_session" not in set_cookies(evil) and c.session_token is None
        # the server's own origin is fine
        ok = c.post("/console/signin", fields, csrf=pre_csrf, headers={"Origin": iamd.url})
        assert (ok.status_code, ok.headers["location"]) == (303, "/console/home")

        signed_in_csrf = c.refresh_csrf("/console/home")
        assert signed_in_csrf != pre_csrf
        for path in ("/console/credentials", "/console/switch-back", "/console/signout"):
            stale = c.post(path, {}, csrf=pre_csrf)
            assert stale.status_code == 403, path
            assert error_text(stale) == FORM_EXPIRED
            assert "AWS_SECRET_ACCESS_KEY" not in stale.text
        assert c.post("/console/credentials", {}, csrf=None).status_code == 403
        assert c.post("/console/credentials", {}, csrf=signed_in_csrf, headers={"Origin": "null"}).status_code == 403
        # still signed in, and the right token works
        assert c.home().status_code == 200
        assert c.post("/console/credentials", {}, csrf=signed_in_csrf).status_code == 200
        # JSON endpoints want the token in X-CSRF-Token
        no_header = c.post_json("/console/webauthn/register/options", {"name": "k"}, csrf=None)
        assert no_header.status_code == 403 and no_header.json() == {"error": FORM_EXPIRED}
        stale_header = c.post_json("/console/webauthn/register/options", {"name": "k"}, csrf=pre_csrf)
        assert stale_header.status_code == 403


def test_sign_out_ends_the_session(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        token = c.session_token
        assert token is not None and opens_home(iamd.url, "iamd_session", token).status_code == 200
        out = c.sign_out()
        assert (out.status_code, out.headers["location"]) == (303, "/console?signed_out=1")
        expired = set_cookies(out)["iamd_session"]
        assert expired.startswith("iamd_session=;") and "Max-Age=0" in expired
        assert c.session_token is None
        page = c.get("/console?signed_out=1")
        assert text_of(page, "notice") == "You have signed out."
        old = opens_home(iamd.url, "iamd_session", token)
        assert (old.status_code, old.headers["location"]) == (303, "/console")
        assert c.home().headers["location"] == "/console"
    with server_engine(iamd).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.console_sessions)).scalar() == 0


def test_deleting_the_user_ends_its_console_sessions(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    make_user(iam, "bob", PASSWORD)
    with Console(iamd.url) as c1, Console(iamd.url) as c2, Console(iamd.url) as bob:
        for c, name in ((c1, "alice"), (c2, "alice"), (bob, "bob")):
            assert c.sign_in(iamd.account_id, name, PASSWORD).status_code == 303
            assert c.home().status_code == 200
        iam.delete_login_profile(UserName="alice")
        iam.delete_user(UserName="alice")
        for c in (c1, c2):
            home = c.home()
            assert (home.status_code, home.headers["location"]) == (303, "/console")
        assert bob.arn() == f"arn:aws:iam::{iamd.account_id}:user/bob"  # other users are not affected
        # a new user of the same name is someone else: the old cookies stay dead
        make_user(iam, "alice", PASSWORD)
        assert c1.home().status_code == 303


def test_root_sign_in(iamd: Server) -> None:
    with Console(iamd.url) as c:  # no root login configured yet
        response = c.sign_in_root("root@example.com", ROOT_PASSWORD)
        assert (response.status_code, error_text(response)) == (401, INCORRECT)
    out = iamd.cli(
        "accounts", "set-root-login", iamd.account_id, "--email", "root@example.com", input_text=ROOT_PASSWORD + "\n"
    )
    assert out.returncode == 0, out.stderr
    assert '"RootEmail": "root@example.com"' in out.stdout
    for email, password in (
        ("root@example.com", "Root-Password-124"),
        ("other@example.com", ROOT_PASSWORD),
        ("root@example.com", ""),
    ):
        with Console(iamd.url) as c:
            response = c.sign_in_root(email, password)
            assert (response.status_code, error_text(response)) == (401, INCORRECT), (email, password)
            assert "iamd_session" not in set_cookies(response)
    with Console(iamd.url) as c:
        page = c.get("/console?root=1")
        assert 'id="root-form"' in page.text and 'name="kind" value="root"' in page.text
        response = c.sign_in_root("ROOT@example.com", ROOT_PASSWORD)  # emails are case-insensitive
        assert (response.status_code, response.headers["location"]) == (303, "/console/home")
        home = c.home()
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:root"
        assert text_of(home, "identity-name") == "root"
        creds = c.credentials()
        sts = iamd.client("sts", creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"])
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{iamd.account_id}:root"
        # setting the root login again signs the root out everywhere
        again = iamd.cli(
            "accounts", "set-root-login", iamd.account_id, "--email", "root@example.com", input_text="New-Root-Pass-1\n"
        )
        assert again.returncode == 0, again.stderr
        assert c.home().headers["location"] == "/console"
    bad = iamd.cli("accounts", "set-root-login", iamd.account_id, "--email", "not-an-email", input_text="x" * 12 + "\n")
    assert bad.returncode == 1 and "email" in bad.stderr
