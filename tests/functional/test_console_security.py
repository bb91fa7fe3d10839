"""The console's "Security credentials" page: own password, authenticator apps, root's devices."""

from __future__ import annotations

import re
from typing import Any

from iamd.core import totp
from tests.support.console_client import (
    SELF_SERVICE_MFA,
    Console,
    error_text,
    fresh_step,
    make_user,
    text_of,
    totp_code,
)
from tests.support.server import Server
from tests.support.soft_authenticator import SoftAuthenticator

PASSWORD = "Alice-Password-1"
ROOT_PASSWORD = "Root-Password-123"
CHANGE_OWN_PASSWORD = "arn:aws:iam::aws:policy/IAMUserChangePassword"


def serials(iam: Any, user: str | None = None) -> list[str]:
    listed = iam.list_mfa_devices(UserName=user) if user else iam.list_mfa_devices()
    return [d["SerialNumber"] for d in listed["MFADevices"]]


def add_authenticator_app(c: Console, name: str) -> tuple[str, bytes, int]:
    """Set up an authenticator app through the console pages; (serial, seed, step of the 2nd code)."""
    c.refresh_csrf("/console/security")
    setup = c.post("/console/security/virtual-mfa", {"name": name})
    assert setup.status_code == 200, error_text(setup)
    assert 'id="qr"' in setup.text and 'src="data:image/png;base64,' in setup.text
    seed = totp.from_base32(text_of(setup, "seed") or "")
    m = re.search(r'name="serial" value="([^"]+)"', setup.text)
    assert m is not None
    serial = m.group(1)
    step = fresh_step()
    done = c.post(
        "/console/security/virtual-mfa/enable",
        {"serial": serial, "code1": totp_code(seed, step - 1), "code2": totp_code(seed, step)},
    )
    assert done.status_code == 200, error_text(done)
    assert text_of(done, "notice") == "Your authenticator app was added."
    assert f'data-serial="{serial}"' in done.text
    return serial, seed, step


def test_change_own_password(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    iam.attach_user_policy(UserName="alice", PolicyArn=CHANGE_OWN_PASSWORD)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        fields = {"old_password": PASSWORD, "new_password": "Fresh-Password-22", "confirm_password": "Fresh-Password-2"}
        c.refresh_csrf("/console/security")
        mismatch = c.post("/console/security/password", fields)
        assert (mismatch.status_code, error_text(mismatch)) == (400, "The new passwords do not match.")
        wrong_old = c.post(
            "/console/security/password", {**fields, "old_password": "x" * 12, "new_password": "Fresh-Password-2"}
        )
        assert error_text(wrong_old) == "The old password was incorrect."
        ok = c.post("/console/security/password", {**fields, "new_password": "Fresh-Password-2"})
        assert (ok.status_code, text_of(ok, "notice")) == (200, "Your password was changed.")
        assert c.home().status_code == 200  # still signed in
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).status_code == 401
        assert c.sign_in(iamd.account_id, "alice", "Fresh-Password-2").headers["location"] == "/console/home"


def test_authenticator_app_set_up_in_the_console(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        serial, seed, step = add_authenticator_app(c, "alice-phone")
        assert serial == f"arn:aws:iam::{iamd.account_id}:mfa/alice-phone"
        # a set-up that is cancelled leaves no device behind
        c.refresh_csrf("/console/security")
        setup = c.post("/console/security/virtual-mfa", {"name": "abandoned"})
        other = re.search(r'name="serial" value="([^"]+)"', setup.text)
        assert other is not None
        cancelled = c.post("/console/security/virtual-mfa/enable", {"serial": other.group(1), "cancel": "1"})
        assert (cancelled.status_code, cancelled.headers["location"]) == (303, "/console/security")
    assert serials(iam, "alice") == [serial]
    assert [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]] == [serial]
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/mfa"
        done = c.submit_totp(totp_code(seed, step + 1))
        assert done.headers["location"] == "/console/home"
        assert text_of(c.home(), "mfa-state") == "used at sign-in"
        # removing it in the console deletes the virtual device as well
        c.refresh_csrf("/console/security")
        removed = c.post("/console/security/remove", {"serial": serial})
        assert text_of(removed, "notice") == "The device was removed."
    assert serials(iam, "alice") == []
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_security_page_without_list_permission(iamd: Server, iam: Any) -> None:
    make_user(iam, "bob", PASSWORD)
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "bob", PASSWORD)
        page = c.get("/console/security")
        assert page.status_code == 200
        assert "Your permissions do not let you see your MFA devices: that needs iam:ListMFADevices." in page.text
        assert "not authorized to perform" not in page.text  # said in words, not as a raw AccessDenied
        c.refresh_csrf("/console/security")
        refused = c.post("/console/security/virtual-mfa", {"name": "bob-phone"})
        assert "let you add an authenticator app: that needs iam:CreateVirtualMFADevice" in (error_text(refused) or "")
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_root_devices_in_the_console(iamd: Server, iam: Any) -> None:
    out = iamd.cli(
        "accounts", "set-root-login", iamd.account_id, "--email", "root@example.com", input_text=ROOT_PASSWORD + "\n"
    )
    assert out.returncode == 0, out.stderr
    passkey = SoftAuthenticator()
    with Console(iamd.url) as c:
        assert c.sign_in_root("root@example.com", ROOT_PASSWORD).headers["location"] == "/console/home"
        page = c.get("/console/security")
        assert page.status_code == 200 and 'id="change-password-form"' not in page.text
        serial, seed, step = add_authenticator_app(c, "root-phone")
        registered = c.register_fido(passkey, "root-key")
        assert registered.status_code == 200, registered.text
        fido_serial = registered.json()["serial"]
        assert fido_serial.startswith(f"arn:aws:iam::{iamd.account_id}:u2f/root/root-key-")
    assert sorted(serials(iam)) == sorted([serial, fido_serial])
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 1

    with Console(iamd.url) as c:  # password, then the authenticator app
        assert c.sign_in_root("root@example.com", ROOT_PASSWORD).headers["location"] == "/console/mfa"
        page = c.get("/console/mfa")
        assert 'id="totp-form"' in page.text and 'id="use-security-key"' in page.text
        assert c.submit_totp(totp_code(seed, step + 1)).headers["location"] == "/console/home"
        assert c.arn() == f"arn:aws:iam::{iamd.account_id}:root"
    with Console(iamd.url) as c:  # password, then the passkey
        c.sign_in_root("root@example.com", ROOT_PASSWORD)
        c.refresh_csrf("/console/mfa")
        verified, _ = c.authenticate_fido(passkey)
        assert verified.json() == {"redirect": "/console/home"}
        assert c.arn() == f"arn:aws:iam::{iamd.account_id}:root"
    with Console(iamd.url) as c:  # the passkey alone
        c.refresh_csrf("/console")
        verified, _ = c.authenticate_fido(passkey)
        assert verified.json() == {"redirect": "/console/home"}
        home = c.home()
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:root"
        assert text_of(home, "mfa-state") == "used at sign-in"
