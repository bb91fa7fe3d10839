"""A cookie-keeping HTTP client for the web console (no browser), plus helpers for console tests.

``Console`` wraps an httpx client: it keeps the console's cookies, scrapes the CSRF token of the
last page (``<meta name="csrf-token">`` or a hidden ``csrf`` field), posts forms and JSON the way
the console's pages and console.js do, and reads the bits of pages tests look at.
"""

from __future__ import annotations

import contextlib
import datetime
import html
import ipaddress
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET, Server, free_port, postgres_database
from tests.support.totp_steps import code as totp_code
from tests.support.totp_steps import fresh_step

INCORRECT = "Your authentication information is incorrect. Please try again."
WRONG_CODE = "The MFA code is not valid. Check the code and try again."
FIDO_FAILED = "The security key or passkey could not be verified. Try again."
STEP_EXPIRED = "Your sign-in took too long. Sign in again."
FORM_EXPIRED = "Your form expired. Reload the page and try again."
OTHER_SITE = "This request came from another site and was refused."

_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_FIELD_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def _by_id(page: str, ident: str) -> str | None:
    """The text inside the element with ``id=ident`` (tags stripped, entities decoded)."""
    m = re.search(rf'<(\w+)[^>]*\bid="{re.escape(ident)}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    if m is None:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()


class Console:
    def __init__(self, base_url: str, *, verify: Any = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = self.base_url
        self.http = httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=60, verify=verify)
        self.last: httpx.Response | None = None
        self._csrf: str | None = None
        secure = self.base_url.startswith("https://")
        self.session_cookie_name = "__Host-iamd_session" if secure else "iamd_session"
        self.pre_cookie_name = "__Host-iamd_pre" if secure else "iamd_pre"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw requests -------------------------------------------------------------------------------

    def _keep(self, response: httpx.Response) -> httpx.Response:
        self.last = response
        if response.headers.get("content-type", "").startswith("text/html"):
            m = _META_CSRF.search(response.text)
            if m is not None:
                self._csrf = html.unescape(m.group(1))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._keep(self.http.get(path, **kwargs))

    def post(self, path: str, data: dict[str, str], *, csrf: str | None = "auto", **kwargs: Any) -> httpx.Response:
        """Post a form; ``csrf="auto"`` adds the token of the last page seen (None: no token at all)."""
        body = dict(data)
        if csrf == "auto":
            body["csrf"] = self.csrf
        elif csrf is not None:
            body["csrf"] = csrf
        return self._keep(self.http.post(path, data=body, **kwargs))

    def post_json(self, path: str, body: dict[str, Any], *, csrf: str | None = "auto") -> httpx.Response:
        headers = {}
        token = self.csrf if csrf == "auto" else csrf
        if token is not None:
            headers["X-CSRF-Token"] = token
        return self._keep(self.http.post(path, json=body, headers=headers))

    @property
    def csrf(self) -> str:
        """The CSRF token of the last HTML page (fetching the sign-in page if none was seen)."""
        if self._csrf is None:
            self.get("/console")
        assert self._csrf, "no CSRF token found on the last page"
        return self._csrf

    def refresh_csrf(self, path: str = "/console") -> str:
        """Load a page to pick up the current token (it changes at every sign-in step)."""
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.headers.get("location"))
        return self.csrf

    # -- cookies --------------------------------------------------------------------------------------

    @property
    def session_token(self) -> str | None:
        return self.http.cookies.get(self.session_cookie_name)

    def forget_session(self) -> None:
        with contextlib.suppress(KeyError):
            self.http.cookies.delete(self.session_cookie_name)

    # -- flows ------------------------------------------------------------------------------------------

    def sign_in(self, account: str, username: str, password: str) -> httpx.Response:
        self.refresh_csrf("/console")
        return self.post(
            "/console/signin", {"kind": "user", "account": account, "username": username, "password": password}
        )

    def sign_in_root(self, email: str, password: str) -> httpx.Response:
        self.refresh_csrf("/console?root=1")
        return self.post("/console/signin", {"kind": "root", "email": email, "password": password})

    def submit_totp(self, code: str, serial: str | None = None) -> httpx.Response:
        page = self.get("/console/mfa")
        assert page.status_code == 200, page.status_code
        if serial is None:
            m = re.search(r'name="serial" value="([^"]*)"', page.text)
            assert m is not None, "no TOTP device on the MFA page"
            serial = html.unescape(m.group(1))
        return self.post("/console/mfa/totp", {"serial": serial, "code": code})

    def home(self) -> httpx.Response:
        return self.get("/console/home")

    def arn(self) -> str | None:
        """The ARN the home page shows (None unless home opened)."""
        response = self.home()
        if response.status_code != 200:
            return None
        return _by_id(response.text, "arn")

    def credentials(self) -> dict[str, str]:
        """Post "Get credentials" from home; the exported variables."""
        self.refresh_csrf("/console/home")
        response = self.post("/console/credentials", {})
        assert response.status_code == 200, response.status_code
        exports = _by_id(response.text, "exports") or ""
        return dict(re.findall(r'^export (\w+)="([^"]*)"$', exports, re.MULTILINE))

    def register_fido(self, authenticator: Any, name: str, **create_kwargs: Any) -> httpx.Response:
        """The security page's "Register security key or passkey", answered by ``authenticator``."""
        self.refresh_csrf("/console/security")
        options = self.post_json("/console/webauthn/register/options", {"name": name})
        assert options.status_code == 200, (options.status_code, options.text)
        credential = authenticator.create(options.json()["publicKey"], self.origin, **create_kwargs)
        return self.post_json("/console/webauthn/register/verify", {"name": name, "credential": credential})

    def authenticate_fido(self, authenticator: Any, **get_kwargs: Any) -> tuple[httpx.Response, dict[str, Any]]:
        """Answer a WebAuthn sign-in challenge (second factor, or passkey-first without a session).

        Returns the verify response and the body that was posted (to replay it)."""
        options = self.post_json("/console/webauthn/authenticate/options", {})
        assert options.status_code == 200, (options.status_code, options.text)
        assertion = authenticator.get(options.json()["publicKey"], self.origin, **get_kwargs)
        body = {"credential": assertion}
        return self.post_json("/console/webauthn/authenticate/verify", body), body

    def sign_out(self) -> httpx.Response:
        self.refresh_csrf("/console/home")
        return self.post("/console/signout", {})


# -- page and header helpers ------------------------------------------------------------------------------


def error_text(response: httpx.Response) -> str | None:
    """The page's error message (``#error``), or a JSON reply's ``error``."""
    if response.headers.get("content-type", "").startswith("application/json"):
        value = response.json().get("error")
        return None if value is None else str(value)
    return _by_id(response.text, "error")


def text_of(response: httpx.Response, ident: str) -> str | None:
    return _by_id(response.text, ident)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Cookie name -> the whole Set-Cookie line, for the cookies a response sets."""
    out = {}
    for line in response.headers.get_list("set-cookie"):
        out[line.split("=", 1)[0].strip()] = line
    return out


def cookie_attributes(line: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in line.split(";")[1:]}


def opens_home(base_url: str, cookie_name: str, token: str, *, verify: Any = True) -> httpx.Response:
    """GET /console/home with nothing but the given session cookie (a fresh client, no jar)."""
    return httpx.get(
        base_url + "/console/home", headers={"Cookie": f"{cookie_name}={token}"}, verify=verify, timeout=60
    )


# -- databases ------------------------------------------------------------------------------------------


def server_engine(server: Server) -> sa.Engine:
    """An engine on the server's own store (sqlite file or PostgreSQL database)."""
    url = server.database_url or f"sqlite:///{server.data_dir / 'iamd.db'}"
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


@contextlib.contextmanager
def backend_database(backend: str) -> Iterator[str | None]:
    """None for SQLite; a fresh PostgreSQL database (dropped afterwards) for "postgresql"."""
    if backend == "sqlite":
        yield None
        return
    import pytest

    if os.environ.get("IAMD_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("IAMD_TEST_SKIP_POSTGRES=1")
    with postgres_database() as url:
        yield url


# -- TLS ------------------------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (an IP SAN) and its key, as PEM files in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def tls_context(cert: Path) -> ssl.SSLContext:
    """A client TLS context trusting just ``cert``."""
    return ssl.create_default_context(cafile=str(cert))


def start_tls_server(
    data_dir: Path,
    cert: Path,
    key: Path,
    database_url: str | None = None,
    *,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Like tests.support.server.start_server, but serving HTTPS (and polling /healthz over HTTPS)."""
    port = free_port()
    env = {
        "IAMD_CACHE_REFRESH_SECONDS": "0.5",
        "IAMD_LOG_LEVEL": "warning",
        "IAMD_ACCOUNT_ID": ACCOUNT_ID,
        "IAMD_ROOT_ACCESS_KEY_ID": ROOT_KEY,
        "IAMD_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
        **(extra_env or {}),
    }
    args = [sys.executable, "-m", "iamd", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir), "--dev", "--tls-cert", str(cert), "--tls-key", str(key)]
    if database_url:
        args += ["--database-url", database_url]
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"iamd exited with {proc.returncode}: {log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", verify=tls_context(cert), timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"iamd (TLS) did not become ready in 60 s: {log_path.read_text()}")
            time.sleep(0.1)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
        raise
    return Server(url=url, data_dir=data_dir, process=proc, database_url=database_url, env=env)


# -- accounts, users and devices ------------------------------------------------------------------------------

SELF_SERVICE_MFA = {
    "Effect": "Allow",
    "Action": [
        "iam:CreateVirtualMFADevice",
        "iam:EnableMFADevice",
        "iam:ListMFADevices",
        "iam:DeactivateMFADevice",
        "iam:DeleteVirtualMFADevice",
    ],
    "Resource": "*",
}


def policy_document(*statements: dict[str, Any]) -> str:
    import json

    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def make_user(iam: Any, name: str, password: str, *statements: dict[str, Any], reset_required: bool = False) -> None:
    """An IAM user with a console password and (optionally) an inline policy of ``statements``."""
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=password, PasswordResetRequired=reset_required)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=policy_document(*statements))


def enable_virtual_device(iam: Any, user: str, name: str) -> tuple[str, bytes, int]:
    """Create and enable a virtual MFA device for ``user`` (as root, through the API).

    Enables with the codes of steps t-1 and t; returns (serial, seed, t): code(t+1) is the next usable code."""
    from iamd.core import totp

    out = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    serial, seed = out["SerialNumber"], totp.from_base32(out["Base32StringSeed"].decode())
    step = fresh_step()
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1=totp_code(seed, step - 1),
        AuthenticationCode2=totp_code(seed, step),
    )
    return serial, seed, step
