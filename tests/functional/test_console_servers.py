"""Web console behaviour that needs a server of its own: throttling settings, the aws-cn partition,
TLS, a short console session.  Each test starts (and stops) its server, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.support.console_client import (
    INCORRECT,
    OTHER_SITE,
    SELF_SERVICE_MFA,
    Console,
    backend_database,
    cookie_attributes,
    error_text,
    make_user,
    opens_home,
    self_signed_certificate,
    set_cookies,
    start_tls_server,
    text_of,
    tls_context,
)
from tests.support.server import Server, start_server
from tests.support.soft_authenticator import SoftAuthenticator

PASSWORD = "Alice-Password-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def own_server(tmp_path: Path, backend: str, **kwargs: Any) -> Iterator[Server]:
    with backend_database(backend) as database_url:
        server = start_server(tmp_path / "data", database_url, **kwargs)
        try:
            yield server
        finally:
            server.stop()


def parse_time(text: str | None) -> float:
    assert text, "no time on the page"
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


def test_per_user_throttling(tmp_path: Path, backend: str) -> None:
    env = {"IAMD_CONSOLE_USER_FREE_ATTEMPTS": "2", "IAMD_CONSOLE_BASE_DELAY_SECONDS": "30"}
    with own_server(tmp_path, backend, extra_env=env) as srv:
        iam = srv.client("iam")
        make_user(iam, "alice", PASSWORD)
        make_user(iam, "bob", PASSWORD)
        with Console(srv.url) as c:
            for _ in range(2):  # the free allowance
                wrong = c.sign_in(srv.account_id, "alice", "Not-The-Password-1")
                assert (wrong.status_code, error_text(wrong)) == (401, INCORRECT)
                assert "retry-after" not in wrong.headers
            third = c.sign_in(srv.account_id, "alice", "Not-The-Password-1")  # past it: locked for 30 s
            assert third.status_code == 429
            assert error_text(third) == "Too many failed attempts. Try again in 30 seconds."
            # now even the right password is not looked at
            right = c.sign_in(srv.account_id, "alice", PASSWORD)
            assert right.status_code == 429
            assert 15 <= int(right.headers["retry-after"]) <= 30
            message = error_text(right) or ""
            assert re.fullmatch(r"Too many failed attempts\. Try again in (1[5-9]|2[0-9]|30) seconds\.", message), (
                message
            )
            assert "iamd_session" not in set_cookies(right) and c.session_token is None
            # the user name's case does not get around it
            assert c.sign_in(srv.account_id, "ALICE", PASSWORD).status_code == 429
        # another user from the same address is not held back by alice's counter (source allowance: 25)
        with Console(srv.url) as c:
            wrong = c.sign_in(srv.account_id, "bob", "Not-The-Password-1")
            assert (wrong.status_code, error_text(wrong)) == (401, INCORRECT)
            ok = c.sign_in(srv.account_id, "bob", PASSWORD)
            assert (ok.status_code, ok.headers["location"]) == (303, "/console/home")
            assert c.arn() == f"arn:aws:iam::{srv.account_id}:user/bob"
        # an unknown user is throttled just the same (nothing tells users apart)
        with Console(srv.url) as c:
            statuses = [c.sign_in(srv.account_id, "mallory", PASSWORD).status_code for _ in range(4)]
            assert statuses == [401, 401, 429, 429]


def test_per_source_throttling(tmp_path: Path, backend: str) -> None:
    env = {"IAMD_CONSOLE_SOURCE_FREE_ATTEMPTS": "3", "IAMD_CONSOLE_BASE_DELAY_SECONDS": "30"}
    with own_server(tmp_path, backend, extra_env=env) as srv:
        make_user(srv.client("iam"), "alice", PASSWORD)
        with Console(srv.url) as c:
            # one wrong password each for many user names (each under its own allowance of 5)
            statuses = [c.sign_in(srv.account_id, f"user{i}", PASSWORD).status_code for i in range(4)]
            assert statuses == [401, 401, 401, 429]
            # the address is locked: alice's right password from it is refused too
            locked = c.sign_in(srv.account_id, "alice", PASSWORD)
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 15


def test_aws_cn_partition_has_no_fido(tmp_path: Path, backend: str) -> None:
    with own_server(tmp_path, backend, extra_args=["--partition", "aws-cn"]) as srv:
        make_user(srv.client("iam"), "alice", PASSWORD, SELF_SERVICE_MFA)
        with Console(srv.url) as c:
            page = c.get("/console")
            assert page.status_code == 200 and 'id="user-form"' in page.text
            assert "passkey-signin" not in page.text
            options = c.post_json("/console/webauthn/authenticate/options", {})
            assert options.status_code == 403
            assert options.json() == {"error": "Security keys and passkeys are not available in the aws-cn partition."}
            verify = c.post_json("/console/webauthn/authenticate/verify", {"credential": {}})
            assert verify.status_code == 403

            assert c.sign_in(srv.account_id, "alice", PASSWORD).headers["location"] == "/console/home"
            assert c.arn() == f"arn:aws-cn:iam::{srv.account_id}:user/alice"
            security = c.get("/console/security")
            assert 'id="no-fido"' in security.text and 'id="add-fido-form"' not in security.text
            register = c.post_json("/console/webauthn/register/options", {"name": "key1"})
            assert register.status_code == 403
            assert "aws-cn" in register.json()["error"]
            assert c.post_json("/console/webauthn/register/verify", {"name": "key1"}).status_code == 403


def test_tls_cookies_are_host_prefixed_and_secure(tmp_path: Path, backend: str) -> None:
    cert, key = self_signed_certificate(tmp_path / "tls")
    with backend_database(backend) as database_url:
        srv = start_tls_server(tmp_path / "data", cert, key, database_url)
        try:
            assert srv.url.startswith("https://127.0.0.1:")
            with pytest.raises(httpx.HTTPError):  # no plain HTTP on the port
                httpx.get(srv.url.replace("https://", "http://") + "/healthz", timeout=5)
            iam = boto3.client(
                "iam",
                endpoint_url=srv.url,
                region_name="us-east-1",
                aws_access_key_id=srv.access_key_id,
                aws_secret_access_key=srv.secret_access_key,
                verify=str(cert),
                config=Config(retries={"max_attempts": 1}),
            )
            make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
            iam.close()  # an open keep-alive TLS connection holds up the server's shutdown
            with Console(srv.url, verify=tls_context(cert)) as c:
                page = c.get("/console")
                pre = set_cookies(page)["__Host-iamd_pre"]
                assert {"secure", "httponly", "samesite"} <= cookie_attributes(pre) and "Path=/" in pre
                assert "Domain=" not in pre  # __Host- cookies may not name a domain
                # the http:// origin of the same host and port is another site
                insecure = c.post(
                    "/console/signin",
                    {"kind": "user", "account": srv.account_id, "username": "alice", "password": PASSWORD},
                    headers={"Origin": srv.url.replace("https://", "http://")},
                )
                assert (insecure.status_code, error_text(insecure)) == (403, OTHER_SITE)

                response = c.sign_in(srv.account_id, "alice", PASSWORD)
                assert (response.status_code, response.headers["location"]) == (303, "/console/home")
                cookies = set_cookies(response)
                assert "iamd_session" not in cookies
                line = cookies["__Host-iamd_session"]
                assert {"secure", "httponly", "samesite", "path"} <= cookie_attributes(line)
                assert "SameSite=Strict" in line and "Path=/" in line and "Domain=" not in line
                token = c.session_token
                assert token and c.arn() == f"arn:aws:iam::{srv.account_id}:user/alice"
                # over TLS only the prefixed cookie counts
                assert opens_home(srv.url, "__Host-iamd_session", token, verify=tls_context(cert)).status_code == 200
                plain = opens_home(srv.url, "iamd_session", token, verify=tls_context(cert))
                assert (plain.status_code, plain.headers["location"]) == (303, "/console")

                # WebAuthn's origin is the https one
                c.refresh_csrf("/console/security")
                options = c.post_json("/console/webauthn/register/options", {"name": "key1"})
                credential = SoftAuthenticator().create(options.json()["publicKey"], c.origin)
                assert c.origin.startswith("https://")
                done = c.post_json("/console/webauthn/register/verify", {"name": "key1", "credential": credential})
                assert done.status_code == 200, done.text

                out = c.sign_out()
                expired = set_cookies(out)["__Host-iamd_session"]
                assert "Max-Age=0" in expired and "Secure" in expired
        finally:
            srv.stop()


def test_short_console_session(tmp_path: Path, backend: str) -> None:
    with own_server(tmp_path, backend, extra_env={"IAMD_CONSOLE_SESSION_SECONDS": "900"}) as srv:
        make_user(srv.client("iam"), "alice", PASSWORD)
        with Console(srv.url) as c:
            signed_in_at = datetime.datetime.now(datetime.UTC).timestamp()
            c.sign_in(srv.account_id, "alice", PASSWORD)
            home = c.home()
            expires = parse_time(text_of(home, "session-expires"))
            assert abs(expires - (signed_in_at + 900)) < 30
            # command line credentials end with the console session (not 36 hours later)
            c.refresh_csrf("/console/home")
            page = c.post("/console/credentials", {})
            m = re.search(r'valid until <time datetime="([^"]+)">', page.text)
            assert m is not None
            assert abs(parse_time(m.group(1)) - expires) <= 1


def test_passkey_first_failures_are_throttled(tmp_path: Path, backend: str) -> None:
    env = {"IAMD_CONSOLE_BASE_DELAY_SECONDS": "30", "IAMD_CONSOLE_SOURCE_FREE_ATTEMPTS": "5"}
    with own_server(tmp_path, backend, extra_env=env) as srv:
        make_user(srv.client("iam"), "alice", PASSWORD, SELF_SERVICE_MFA)
        passkey = SoftAuthenticator()
        with Console(srv.url) as c:
            c.sign_in(srv.account_id, "alice", PASSWORD)
            assert c.register_fido(passkey, "phone").status_code == 200
        with Console(srv.url) as c:
            c.refresh_csrf("/console")
            # an answer with no pending challenge is nobody's wrong guess: not counted
            stale = [c.post_json("/console/webauthn/authenticate/verify", {"credential": {}}) for _ in range(7)]
            assert [r.status_code for r in stale] == [400] * 7
            # junk answers to real challenges are: the address's allowance (5 here), then a 30 s lock
            statuses = []
            for _ in range(6):
                assert c.post_json("/console/webauthn/authenticate/options", {}).status_code == 200
                statuses.append(c.post_json("/console/webauthn/authenticate/verify", {"credential": {}}).status_code)
            assert statuses == [401] * 5 + [429]
            locked, _ = c.authenticate_fido(passkey)
            assert locked.status_code == 429
            assert locked.json()["error"].startswith("Too many failed attempts.")
            assert 15 <= int(locked.headers["retry-after"]) <= 30
            assert c.session_token is None
        # the address is locked for password sign-in too (per-source throttling), whoever signs in
        with Console(srv.url) as c:
            refused = c.sign_in(srv.account_id, "alice", PASSWORD)
            assert refused.status_code == 429
            assert "Too many failed attempts." in refused.text
