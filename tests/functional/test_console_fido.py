"""Security keys and passkeys in the web console, driven by a software authenticator over HTTP."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from iamd.core import totp
from iamd.store import tables as t
from tests.support import soft_authenticator
from tests.support.console_client import (
    FIDO_FAILED,
    INCORRECT,
    SELF_SERVICE_MFA,
    STEP_EXPIRED,
    Console,
    enable_virtual_device,
    fresh_step,
    make_user,
    server_engine,
    set_cookies,
    text_of,
    totp_code,
)
from tests.support.server import Server
from tests.support.soft_authenticator import SoftAuthenticator, b64url, b64url_decode

PASSWORD = "Alice-Password-1"


def events_of(iamd: Server, serial: str) -> list[tuple[str, str | None]]:
    e = t.mfa_events
    with server_engine(iamd).connect() as conn:
        rows = conn.execute(sa.select(e.c.event, e.c.detail).where(e.c.serial == serial).order_by(e.c.id)).all()
    return [(r.event, r.detail) for r in rows]


def stored_sign_count(iamd: Server, serial: str) -> int | None:
    w = t.webauthn_credentials
    with server_engine(iamd).connect() as conn:
        return conn.execute(sa.select(w.c.sign_count).where(w.c.serial == serial)).scalar()


def signed_in(iamd: Server, name: str = "alice") -> Console:
    c = Console(iamd.url)
    response = c.sign_in(iamd.account_id, name, PASSWORD)
    assert (response.status_code, response.headers["location"]) == (303, "/console/home")
    return c


def register(c: Console, authenticator: SoftAuthenticator, name: str, **kwargs: Any) -> str:
    response = c.register_fido(authenticator, name, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["redirect"] == "/console/security"
    return str(body["serial"])


def serials(iam: Any, user: str) -> list[str]:
    return [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]]


def test_register_a_security_key_and_use_it_as_second_factor(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    key = SoftAuthenticator()
    with signed_in(iamd) as c:
        c.refresh_csrf("/console/security")
        options = c.post_json("/console/webauthn/register/options", {"name": "key1"})
        assert options.status_code == 200
        public_key = json.loads(options.json()["publicKey"])
        assert public_key["rp"]["id"] == "127.0.0.1"
        assert public_key["excludeCredentials"] == []
        assert public_key["authenticatorSelection"]["residentKey"] == "preferred"
        assert public_key["user"]["name"] == "alice" and b64url_decode(public_key["user"]["id"]) != b"alice"
        credential = key.create(options.json()["publicKey"], c.origin, resident=False)
        done = c.post_json("/console/webauthn/register/verify", {"name": "key1", "credential": credential})
        assert done.status_code == 200, done.text
        serial = done.json()["serial"]
        assert serial.startswith(f"arn:aws:iam::{iamd.account_id}:u2f/user/alice/key1-")
        assert len(serial) > len(f"arn:aws:iam::{iamd.account_id}:u2f/user/alice/key1-") + 10
        security = c.get("/console/security")
        assert f'data-serial="{serial}"' in security.text
        assert "<td>key1</td><td>security key</td>" in security.text
        assert "(1 of 8)" in security.text
    devices = iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [("alice", serial)]
    assert events_of(iamd, serial)[0] == ("enabled", "security key")

    # the next password sign-in asks for the key
    with Console(iamd.url) as c:
        response = c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert response.headers["location"] == "/console/mfa"
        before = c.session_token
        page = c.get("/console/mfa")
        assert 'id="use-security-key"' in page.text and 'id="totp-form"' not in page.text
        options = c.post_json("/console/webauthn/authenticate/options", {})
        allowed = [d["id"] for d in json.loads(options.json()["publicKey"])["allowCredentials"]]
        assert allowed == [b64url(key.credential_ids[0])]
        assertion = key.get(options.json()["publicKey"], c.origin)
        verified = c.post_json("/console/webauthn/authenticate/verify", {"credential": assertion})
        assert verified.status_code == 200, verified.text
        assert verified.json() == {"redirect": "/console/home"}
        assert c.session_token not in (None, before)
        home = c.home()
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:user/alice"
        assert text_of(home, "mfa-state") == "used at sign-in"
    assert stored_sign_count(iamd, serial) == key.credential(key.credential_ids[0]).sign_count == 1
    assert events_of(iamd, serial)[-1][0] == "console-accepted"


def test_passkey_first_sign_in_and_single_use_challenges(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    passkey = SoftAuthenticator()
    with signed_in(iamd) as c:
        serial = register(c, passkey, "phone")
        assert "<td>phone</td><td>passkey</td>" in c.get("/console/security").text

    with Console(iamd.url) as c:
        pre_csrf = c.refresh_csrf("/console")
        assert c.session_token is None
        options = c.post_json("/console/webauthn/authenticate/options", {})
        assert options.status_code == 200
        assert json.loads(options.json()["publicKey"])["allowCredentials"] == []  # the authenticator picks
        body = {"credential": passkey.get(options.json()["publicKey"], c.origin)}
        verified = c.post_json("/console/webauthn/authenticate/verify", body)
        assert (verified.status_code, verified.json()) == (200, {"redirect": "/console/home"})
        assert "iamd_session" in set_cookies(verified)
        home = c.home()
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:user/alice"
        assert text_of(home, "mfa-state") == "used at sign-in"  # the passkey verified the user

        # the challenge was used up: the same answer again (same browser, signed out) is refused
        c.forget_session()
        replay = c.post_json("/console/webauthn/authenticate/verify", body, csrf=pre_csrf)
        assert replay.status_code == 400
        assert replay.json() == {"error": STEP_EXPIRED}
        assert "iamd_session" not in set_cookies(replay)
        # and the old answer does not fit a new challenge either
        fresh = c.post_json("/console/webauthn/authenticate/options", {}, csrf=pre_csrf)
        assert fresh.status_code == 200
        stale = c.post_json("/console/webauthn/authenticate/verify", body, csrf=pre_csrf)
        assert (stale.status_code, stale.json()) == (401, {"error": FIDO_FAILED})
        assert c.session_token is None
    assert ("fido-refused", "challenge") in events_of(iamd, serial)

    # no console password, no passkey sign-in
    iam.delete_login_profile(UserName="alice")
    with Console(iamd.url) as c:
        c.refresh_csrf("/console")
        refused, _ = c.authenticate_fido(passkey)
        assert (refused.status_code, refused.json()) == (401, {"error": INCORRECT})
        assert c.session_token is None


def test_sign_counter_going_backwards_is_refused_and_recorded(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    key = SoftAuthenticator()
    with signed_in(iamd) as c:
        serial = register(c, key, "key1")
    credential_id = key.credential_ids[0]
    with Console(iamd.url) as c:  # one good use: the counter is at 1
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        c.refresh_csrf("/console/mfa")
        ok, _ = c.authenticate_fido(key)
        assert ok.json() == {"redirect": "/console/home"}
    assert stored_sign_count(iamd, serial) == 1

    key.set_sign_count(credential_id, 0)  # a clone answers with 1 again
    with Console(iamd.url) as c:
        c.sign_in(iamd.account_id, "alice", PASSWORD)
        c.refresh_csrf("/console/mfa")
        cloned, _ = c.authenticate_fido(key)
        assert (cloned.status_code, cloned.json()) == (401, {"error": FIDO_FAILED})
        assert "iamd_session" not in set_cookies(cloned)
        assert c.home().headers["location"] == "/console/mfa"
        assert stored_sign_count(iamd, serial) == 1
        assert ("counter-regression", "counter") in events_of(iamd, serial)

        key.set_sign_count(credential_id, 41)  # the real key, further along, still works
        good, _ = c.authenticate_fido(key)
        assert good.json() == {"redirect": "/console/home"}
        assert text_of(c.home(), "mfa-state") == "used at sign-in"
    assert stored_sign_count(iamd, serial) == 42


def test_the_same_authenticator_cannot_be_registered_twice(
    iamd: Server, iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    key = SoftAuthenticator()
    with signed_in(iamd) as c:
        register(c, key, "key1")
        c.refresh_csrf("/console/security")
        options = c.post_json("/console/webauthn/register/options", {"name": "key1again"})
        public_key = json.loads(options.json()["publicKey"])
        assert [d["id"] for d in public_key["excludeCredentials"]] == [b64url(key.credential_ids[0])]
        with pytest.raises(ValueError, match="excluded"):
            key.create(options.json()["publicKey"], c.origin)

        # a client that ignores excludeCredentials still cannot register the credential a second time
        existing = key.credential_ids[0]
        del public_key["excludeCredentials"]
        monkeypatch.setattr(soft_authenticator, "secrets", types.SimpleNamespace(token_bytes=lambda n: existing))
        clone = SoftAuthenticator().create(public_key, c.origin)
        duplicate = c.post_json("/console/webauthn/register/verify", {"name": "key1again", "credential": clone})
        assert duplicate.status_code == 409
        assert duplicate.json() == {"error": "This security key or passkey is already registered."}
    assert len(serials(iam, "alice")) == 1


def test_registration_needs_a_session_a_good_name_and_permission(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    make_user(iam, "bob", PASSWORD)  # no policy: may not add MFA devices
    key = SoftAuthenticator()
    with Console(iamd.url) as c:
        c.refresh_csrf("/console")
        nobody = c.post_json("/console/webauthn/register/options", {"name": "key1"})
        assert (nobody.status_code, nobody.json()) == (401, {"error": STEP_EXPIRED})
    with signed_in(iamd, "bob") as c:
        c.refresh_csrf("/console/home")
        denied = c.post_json("/console/webauthn/register/options", {"name": "key1"})
        assert denied.status_code == 403
        assert "is not authorized to perform: iam:EnableMFADevice" in denied.json()["error"]
    with signed_in(iamd) as c:
        c.refresh_csrf("/console/security")
        options = c.post_json("/console/webauthn/register/options", {"name": "bad name!"})
        credential = key.create(options.json()["publicKey"], c.origin)
        bad = c.post_json("/console/webauthn/register/verify", {"name": "bad name!", "credential": credential})
        assert bad.status_code == 400 and "Name the device" in bad.json()["error"]
        # a response for another origin is refused
        options = c.post_json("/console/webauthn/register/options", {"name": "key2"})
        phished = key.create(options.json()["publicKey"], "http://evil.example")
        wrong_origin = c.post_json("/console/webauthn/register/verify", {"name": "key2", "credential": phished})
        assert wrong_origin.status_code == 400 and "(origin)" in wrong_origin.json()["error"]
        # no pending challenge
        nothing = c.post_json("/console/webauthn/register/verify", {"name": "key3", "credential": phished})
        assert (nothing.status_code, nothing.json()) == (400, {"error": STEP_EXPIRED})
    assert serials(iam, "alice") == []


def test_another_users_key_is_not_a_second_factor(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    make_user(iam, "bob", PASSWORD, SELF_SERVICE_MFA)
    alice_key, bob_key = SoftAuthenticator(), SoftAuthenticator()
    with signed_in(iamd, "alice") as c:
        register(c, alice_key, "alice-key")
    with signed_in(iamd, "bob") as c:
        register(c, bob_key, "bob-key")
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "bob", PASSWORD).headers["location"] == "/console/mfa"
        c.refresh_csrf("/console/mfa")
        options = json.loads(c.post_json("/console/webauthn/authenticate/options", {}).json()["publicKey"])
        assert [d["id"] for d in options["allowCredentials"]] == [b64url(bob_key.credential_ids[0])]
        options["allowCredentials"] = []  # alice's authenticator answers with her passkey
        assertion = alice_key.get(options, c.origin)
        refused = c.post_json("/console/webauthn/authenticate/verify", {"credential": assertion})
        assert (refused.status_code, refused.json()) == (401, {"error": FIDO_FAILED})
        assert c.home().headers["location"] == "/console/mfa"


def test_eight_devices_at_most_shared_with_virtual_devices(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    with signed_in(iamd) as c:  # signed in before the devices exist, so no second factor is due
        for i in range(7):
            enable_virtual_device(iam, "alice", f"app{i}")
        serial = register(c, SoftAuthenticator(), "key1")
        assert len(serials(iam, "alice")) == 8
        security = c.get("/console/security")
        assert "(8 of 8)" in security.text and 'id="add-fido-form"' not in security.text
        ninth = c.register_fido(SoftAuthenticator(), "key2")
        assert ninth.status_code == 409
        assert ninth.json() == {"error": "You can have at most 8 MFA devices."}
    assert len(serials(iam, "alice")) == 8 and serial in serials(iam, "alice")
    # and the API counts the FIDO device too
    out = iam.create_virtual_mfa_device(VirtualMFADeviceName="app7")["VirtualMFADevice"]
    seed = totp.from_base32(out["Base32StringSeed"].decode())
    step = fresh_step()
    with pytest.raises(ClientError) as exc:
        iam.enable_mfa_device(
            UserName="alice",
            SerialNumber=out["SerialNumber"],
            AuthenticationCode1=totp_code(seed, step - 1),
            AuthenticationCode2=totp_code(seed, step),
        )
    assert exc.value.response["Error"]["Code"] == "LimitExceeded"


def test_fido_serials_and_the_api(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    user_sts = iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    passkey = SoftAuthenticator()
    with signed_in(iamd) as c:
        serial = register(c, passkey, "key1")

    # STS does not take a FIDO device's serial (AWS: FIDO is for the console only)
    with pytest.raises(ClientError) as exc:
        user_sts.get_session_token(SerialNumber=serial, TokenCode="123456")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert ("unknown-device", "sts") in events_of(iamd, serial)
    with pytest.raises(ClientError) as exc:
        iam.resync_mfa_device(
            UserName="alice", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.enable_mfa_device(
            UserName="alice", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    # a FIDO device is not a virtual one
    listed = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]]
    assert serial not in listed

    # DeactivateMFADevice removes it, and the passkey no longer signs in
    iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert serials(iam, "alice") == []
    assert stored_sign_count(iamd, serial) is None
    assert events_of(iamd, serial)[-1] == ("deleted", "was assigned to alice")
    with Console(iamd.url) as c:
        c.refresh_csrf("/console")
        gone, _ = c.authenticate_fido(passkey)
        assert (gone.status_code, gone.json()) == (401, {"error": FIDO_FAILED})
        # and the password alone signs in again
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/home"
    with pytest.raises(ClientError) as exc:
        iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"


def test_removing_a_key_in_the_console(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    with signed_in(iamd) as c:
        serial = register(c, SoftAuthenticator(), "key1")
        c.refresh_csrf("/console/security")
        removed = c.post("/console/security/remove", {"serial": serial})
        assert removed.status_code == 200
        assert text_of(removed, "notice") == "The device was removed."
        assert f'data-serial="{serial}"' not in removed.text
    assert serials(iam, "alice") == []


def test_passkey_first_sign_in_needs_user_verification(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD, SELF_SERVICE_MFA)
    touch_only = SoftAuthenticator(user_verifying=False)  # e.g. a FIDO2 key without a PIN
    with signed_in(iamd) as c:
        register(c, touch_only, "key1")
    with Console(iamd.url) as c:
        c.refresh_csrf("/console")
        verified, _ = c.authenticate_fido(touch_only)
        assert verified.status_code == 401
        assert c.session_token is None
