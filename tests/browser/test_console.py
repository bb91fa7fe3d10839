"""The web console in a real browser: sign-in with password, TOTP, security keys and passkeys;
self-service (MFA devices, password); switching roles; command line credentials; signing out.

Each test checks what the page shows and, through boto3, what the server now holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from iamd.core import totp
from tests.browser.pages import (
    PASSWORD,
    TIMEOUT_MS,
    Console,
    add_authenticator,
    code,
    enable_virtual_mfa,
    fresh_step,
    policy,
    register_device,
    screenshot,
    session_cookie,
    sign_in,
    wait_for_path,
    watch_for_errors,
)
from tests.support.server import ACCOUNT_ID

pytestmark = pytest.mark.xdist_group("browser")

INCORRECT = "Your authentication information is incorrect"
WRONG_CODE = "The MFA code is not valid"


def user_arn(name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{ACCOUNT_ID}:user/{name}"


@pytest.fixture
def other_page(browser: Any) -> Iterator[Any]:
    """A page in a second, separate browser context (its own cookies and authenticators)."""
    ctx = browser.new_context()
    ctx.set_default_timeout(TIMEOUT_MS)
    pg = ctx.new_page()
    errors = watch_for_errors(pg)
    try:
        yield pg
    finally:
        ctx.close()
    assert errors == [], f"script errors in the page: {errors}"


# --- password and TOTP ----------------------------------------------------------------------------------------


def test_password_and_totp_sign_in(console: Console, context: Any, page: Any) -> None:
    arn = console.create_user("alice")
    device = enable_virtual_mfa(console, "alice", "alice-phone")

    page.goto(console.url())
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()
    screenshot(page, "console-signin")
    page.fill("#account", ACCOUNT_ID)
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#signin")

    wait_for_path(page, "/mfa")
    expect(page.locator("#code")).to_be_visible()
    expect(page.locator("#totp-form")).to_contain_text("alice-phone")
    screenshot(page, "console-mfa")
    page.fill("#code", code(device.seed, device.enabled_step + 1))
    page.click("#verify-code")

    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(arn)
    expect(page.locator("#identity-name")).to_have_text("alice")
    expect(page.locator("#mfa-state")).to_have_text("used at sign-in")
    screenshot(page, "console-home")

    cookie = session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"


def test_wrong_password_is_refused(console: Console, context: Any, page: Any) -> None:
    console.create_user("alice")

    sign_in(page, console, "alice", "Not-The-Password-1")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(INCORRECT)
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator("#username")).to_have_value("alice")  # the form is kept, the password is not
    expect(page.locator("#password")).to_have_value("")
    assert session_cookie(context) is None

    # an unknown user and an unknown account get the very same answer
    sign_in(page, console, "nobody")
    expect(error).to_contain_text(INCORRECT)
    sign_in(page, console, "alice", account="210987654321")
    expect(error).to_contain_text(INCORRECT)
    assert session_cookie(context) is None

    page.goto(console.url("/home"))
    wait_for_path(page, "")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#arn")).to_have_count(0)


def test_repeated_failures_are_throttled(console: Console, context: Any, page: Any) -> None:
    console.create_user("alice")
    error = page.locator("#error")
    for _ in range(5):  # IAMD_CONSOLE_USER_FREE_ATTEMPTS
        sign_in(page, console, "alice", "Not-The-Password-1")
        expect(error).to_contain_text(INCORRECT)
    with page.expect_response("**/console/signin") as answer:
        sign_in(page, console, "alice", "Not-The-Password-1")
    assert answer.value.status == 429
    assert answer.value.headers.get("retry-after") == "1"
    expect(error).to_have_text("Too many failed attempts. Try again in 1 second.")
    assert session_cookie(context) is None

    # the lock is short and ends by itself; the right password then gets in
    page.wait_for_timeout(1200)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")


def test_wrong_totp_code_is_refused(console: Console, context: Any, page: Any) -> None:
    console.create_user("alice")
    device = enable_virtual_mfa(console, "alice", "alice-phone")
    step = device.enabled_step
    valid = {code(device.seed, s) for s in range(step - 3, step + 4)}
    wrong = next(c for c in ("000000", "123456", "999999", "424242") if c not in valid)

    sign_in(page, console, "alice")
    wait_for_path(page, "/mfa")
    error = page.locator("#error")
    # a code that is simply wrong, then one already used to enable the device (a replay)
    for refused in (wrong, code(device.seed, step)):
        page.fill("#code", refused)
        page.click("#verify-code")
        expect(error).to_be_visible()
        expect(error).to_contain_text(WRONG_CODE)
        expect(page.locator("#code")).to_be_visible()

    # half signed in: home is out of reach, the browser is sent back to the MFA step
    page.goto(console.url("/home"))
    wait_for_path(page, "/mfa")
    expect(page.locator("#arn")).to_have_count(0)
    expect(page.locator("#signout")).to_have_count(0)

    # a refused code does not end the attempt: the right one still gets in
    page.fill("#code", code(device.seed, step + 1))
    page.click("#verify-code")
    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(user_arn("alice"))


def test_virtual_mfa_set_up_in_the_console(console: Console, page: Any) -> None:
    console.create_user("alice")
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    expect(page.locator("#mfa-state")).to_have_text("not used")

    page.click("nav >> text=Security credentials")
    wait_for_path(page, "/security")
    expect(page.locator("#devices")).to_contain_text("No MFA devices yet.")
    page.fill("#virtual-name", "alice-phone")
    page.click("#add-virtual")
    expect(page.locator("#qr")).to_be_visible()
    seed = totp.from_base32(page.locator("#seed").text_content() or "")
    assert len(seed) == 40
    step = fresh_step()
    page.fill("#code1", code(seed, step - 1))
    page.fill("#code2", code(seed, step))
    page.click("#enable-virtual")

    expect(page.locator("#notice")).to_have_text("Your authenticator app was added.")
    serial = f"arn:aws:iam::{ACCOUNT_ID}:mfa/alice-phone"
    row = page.locator(f'#devices tr[data-serial="{serial}"]')
    expect(row).to_contain_text("virtual")
    listed = console.iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]

    page.click("#signout")
    sign_in(page, console, "alice")
    wait_for_path(page, "/mfa")
    page.fill("#code", code(seed, step + 1))
    page.click("#verify-code")
    wait_for_path(page, "/home")
    expect(page.locator("#mfa-state")).to_have_text("used at sign-in")


def test_virtual_mfa_set_up_survives_a_mistyped_code(console: Console, page: Any) -> None:
    console.create_user("alice")
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    page.goto(console.url("/security"))
    page.fill("#virtual-name", "alice-phone")
    page.click("#add-virtual")
    seed = totp.from_base32(page.locator("#seed").text_content() or "")
    step = fresh_step()
    valid = {code(seed, s) for s in range(step - 3, step + 4)}
    wrong = next(c for c in ("000000", "123456", "999999", "424242") if c not in valid)
    page.fill("#code1", wrong)
    page.fill("#code2", code(seed, step))
    page.click("#enable-virtual")
    expect(page.locator("#error")).to_contain_text("not valid")

    # the user tries again: on the same set-up page, or from the start under the same name
    if page.locator("#code1").count() == 0:
        page.fill("#virtual-name", "alice-phone")
        page.click("#add-virtual")
        error = page.locator("#error")
        expect(page.locator("#qr").or_(error.filter(visible=True)).first).to_be_visible()
        assert error.is_hidden(), error.text_content()
        seed = totp.from_base32(page.locator("#seed").text_content() or "")
    page.fill("#code1", code(seed, step - 1))
    page.fill("#code2", code(seed, step))
    page.click("#enable-virtual")
    expect(page.locator("#notice")).to_have_text("Your authenticator app was added.")
    serial = f"arn:aws:iam::{ACCOUNT_ID}:mfa/alice-phone"
    assert [d["SerialNumber"] for d in console.iam.list_mfa_devices(UserName="alice")["MFADevices"]] == [serial]
    assert console.iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"] == []


def test_virtual_mfa_set_up_can_be_cancelled(console: Console, page: Any) -> None:
    console.create_user("alice")
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    page.goto(console.url("/security"))
    page.fill("#virtual-name", "alice-tablet")
    page.click("#add-virtual")
    expect(page.locator("#qr")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    wait_for_path(page, "/security")
    expect(page.locator("#devices")).to_contain_text("No MFA devices yet.")
    assert console.iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


# --- security keys and passkeys ------------------------------------------------------------------------------


def test_register_a_passkey(console: Console, context: Any, page: Any) -> None:
    console.create_user("alice")
    auth = add_authenticator(context, page)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")

    serial = register_device(page, console, "laptop")

    assert serial.startswith(f"arn:aws:iam::{ACCOUNT_ID}:u2f/user/alice/laptop-")
    row = page.locator(f'#devices tr[data-serial="{serial}"]')
    expect(row).to_contain_text("laptop")
    expect(row).to_contain_text("passkey")
    expect(page.locator("#devices caption")).to_have_text("Your MFA devices (1 of 8)")
    listed = console.iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in listed] == [("alice", serial)]

    creds = auth.credentials()
    assert len(creds) == 1
    assert creds[0]["isResidentCredential"] is True
    assert creds[0]["rpId"] == "localhost"

    # the same authenticator a second time: excluded by the browser, explained on the page
    page.fill("#fido-name", "again")
    page.click("#add-fido")
    expect(page.locator("#error")).to_contain_text("already registered")
    assert len(console.iam.list_mfa_devices(UserName="alice")["MFADevices"]) == 1
    assert len(auth.credentials()) == 1


def test_sign_in_with_password_and_security_key(console: Console, context: Any, page: Any) -> None:
    arn = console.create_user("alice")
    auth = add_authenticator(context, page, resident_keys=False)  # not discoverable: a second factor only
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    serial = register_device(page, console, "yubikey")
    expect(page.locator(f'#devices tr[data-serial="{serial}"]')).to_contain_text("security key")
    assert auth.credentials()[0]["isResidentCredential"] is False

    page.click("#signout")
    wait_for_path(page, "")
    expect(page.locator("#notice")).to_have_text("You have signed out.")

    sign_in(page, console, "alice")
    wait_for_path(page, "/mfa")
    expect(page.locator("#code")).to_have_count(0)  # no TOTP device: the security key is the only way
    page.click("#use-security-key")
    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(arn)
    expect(page.locator("#mfa-state")).to_have_text("used at sign-in")
    assert auth.credentials()[0]["signCount"] >= 2


def test_passkey_first_sign_in(console: Console, context: Any, page: Any, other_page: Any) -> None:
    arn = console.create_user("alice")
    auth = add_authenticator(context, page)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    register_device(page, console, "laptop")
    (passkey,) = auth.credentials()

    # a fresh browser holding the same passkey, its user not touching it yet: the conditional
    # (autofill) request the sign-in page starts by itself stays pending
    fresh = add_authenticator(other_page.context, other_page)
    fresh.presence(False)
    fresh.add_credential(passkey)
    with other_page.expect_response("**/console/webauthn/authenticate/options"):
        other_page.goto(console.url())
    expect(other_page.locator("#passkey-signin")).to_be_visible()
    fresh.presence(True)

    other_page.click("#passkey-signin")  # aborts the conditional request and asks outright
    wait_for_path(other_page, "/home")
    expect(other_page.locator("#arn")).to_have_text(arn)
    expect(other_page.locator("#mfa-state")).to_have_text("used at sign-in")  # the passkey verified the user
    assert other_page.locator("#password").count() == 0
    assert session_cookie(other_page.context) is not None


def test_passkey_autofill_sign_in(console: Console, context: Any, page: Any, other_page: Any) -> None:
    """Conditional mediation: an authenticator that answers at once signs in without any click."""
    arn = console.create_user("alice")
    auth = add_authenticator(context, page)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    register_device(page, console, "laptop")

    fresh = add_authenticator(other_page.context, other_page)
    fresh.add_credential(auth.credentials()[0])
    other_page.goto(console.url())
    wait_for_path(other_page, "/home")
    expect(other_page.locator("#arn")).to_have_text(arn)


def test_passkey_button_cancels_an_autofill_request_still_starting(
    console: Console, context: Any, page: Any, other_page: Any
) -> None:
    """Were the autofill request's options to arrive after the click, it would start a second ceremony
    (the browser: "A request is already pending") and overwrite the button's challenge on the server.
    The click must cancel it however far it got: here its options request is held back, and must fail."""
    arn = console.create_user("alice")
    auth = add_authenticator(context, page)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    register_device(page, console, "laptop")

    fresh = add_authenticator(other_page.context, other_page)
    fresh.add_credential(auth.credentials()[0])
    held: list[Any] = []
    cancelled: list[str] = []
    arrivals: list[Any] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)  # the autofill request's options: not answered

    other_page.route("**/console/webauthn/authenticate/options", hold_first)
    # the way home is held too: a navigation would cancel the autofill request anyway, too late
    other_page.route("**/console/home", lambda route: arrivals.append(route))
    other_page.on("requestfailed", lambda r: cancelled.append(r.url) if "/authenticate/options" in r.url else None)
    with other_page.expect_request("**/console/webauthn/authenticate/options"):
        other_page.goto(console.url())
    other_page.click("#passkey-signin")
    for _ in range(60):  # up to 3 s
        if cancelled and arrivals:
            break
        other_page.wait_for_timeout(50)
    assert arrivals, "the passkey button's ceremony did not finish"
    assert cancelled, "the click left the autofill request's options fetch running"
    arrivals[0].continue_()
    wait_for_path(other_page, "/home")
    expect(other_page.locator("#arn")).to_have_text(arn)


def test_remove_devices(console: Console, context: Any, page: Any) -> None:
    console.create_user("alice")
    auth = add_authenticator(context, page)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    passkey = register_device(page, console, "laptop")
    phone = enable_virtual_mfa(console, "alice", "alice-phone").serial
    page.goto(console.url("/security"))
    expect(page.locator("#devices tbody tr")).to_have_count(2)

    page.get_by_role("button", name="Remove laptop").click()
    expect(page.locator("#notice")).to_have_text("The device was removed.")
    expect(page.locator(f'#devices tr[data-serial="{passkey}"]')).to_have_count(0)
    expect(page.locator(f'#devices tr[data-serial="{phone}"]')).to_have_count(1)
    listed = console.iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [phone]

    page.get_by_role("button", name="Remove alice-phone").click()
    expect(page.locator("#notice")).to_have_text("The device was removed.")
    expect(page.locator("#devices")).to_contain_text("No MFA devices yet.")
    assert console.iam.list_mfa_devices(UserName="alice")["MFADevices"] == []
    assert console.iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []  # a removed app is deleted too

    # the passkey is still in the authenticator, but the server no longer knows it: the sign-in
    # page's autofill request tries it and is refused
    page.click("#signout")
    wait_for_path(page, "")
    expect(page.locator("#error")).to_contain_text("could not be verified")
    assert len(auth.credentials()) == 1
    assert session_cookie(context) is None
    # and the password alone now signs in (no second factor left)
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    expect(page.locator("#mfa-state")).to_have_text("not used")


# --- passwords -----------------------------------------------------------------------------------------------


def test_forced_password_change(console: Console, context: Any, page: Any) -> None:
    old, new = "Initial-Passw0rd", "Brand-New-Passw0rd"
    iam = console.iam
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireNumbers=True, AllowUsersToChangePassword=True)
    arn = console.create_user("alice", old, reset_required=True)

    sign_in(page, console, "alice", old)
    wait_for_path(page, "/password")
    expect(page.locator("ul.rules")).to_contain_text("At least 12 characters.")
    expect(page.locator("ul.rules")).to_contain_text("At least one number (0-9).")
    page.goto(console.url("/home"))  # nothing else until the password is changed
    wait_for_path(page, "/password")

    def submit(old_value: str, new_value: str, confirm: str) -> None:
        page.fill("#old_password", old_value)
        page.fill("#new_password", new_value)
        page.fill("#confirm_password", confirm)
        page.click("#set-password")

    error = page.locator("#error")
    submit(old, "Short-1", "Short-1")  # against the account's policy
    expect(error).to_be_visible()
    expect(error).to_contain_text("policy")
    expect(page.locator("#set-password")).to_be_visible()
    submit(old, new, new + "x")
    expect(error).to_have_text("The new passwords do not match.")
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"] is True

    submit(old, new, new)
    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(arn)
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"] is False

    page.click("#signout")
    wait_for_path(page, "")
    sign_in(page, console, "alice", old)
    expect(error).to_contain_text(INCORRECT)
    assert session_cookie(context) is None
    sign_in(page, console, "alice", new)
    wait_for_path(page, "/home")


# --- roles and credentials --------------------------------------------------------------------------------------


def exported(page: Any) -> dict[str, str]:
    text = page.locator("#exports").text_content() or ""
    found = dict(re.findall(r'^export (AWS_[A-Z_]+)="([^"]*)"$', text, re.MULTILINE))
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= set(found), text
    return found


def test_switch_role_and_command_line_credentials(console: Console, page: Any) -> None:
    iam = console.iam
    arn = console.create_user("alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="assume",
        PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    iam.create_role(
        RoleName="Admin",
        AssumeRolePolicyDocument=policy(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
        ),
    )
    assumed = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/Admin/alice"
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")

    # credentials for the user
    page.click("#get-credentials")
    creds = exported(page)
    assert creds["AWS_ENDPOINT_URL"] == console.base
    assert console.sts(creds).get_caller_identity()["Arn"] == arn
    page.click("text=Back to home")
    wait_for_path(page, "/home")

    # a role that does not exist
    page.fill("#role-name", "Nope")
    page.click("#switch-role")
    expect(page.locator("#error")).to_contain_text(f"You cannot switch to arn:aws:iam::{ACCOUNT_ID}:role/Nope")
    expect(page.locator("#arn")).to_have_text(arn)

    page.goto(console.url("/home"))
    expect(page.locator("#role-account")).to_have_value(ACCOUNT_ID)
    page.fill("#role-name", "Admin")
    page.click("#switch-role")
    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(assumed)
    expect(page.locator("#signed-in-as")).to_have_text(arn)
    expect(page.locator("#identity-name")).to_have_text("Admin / alice")

    page.click("#get-credentials")
    creds = exported(page)
    assert console.sts(creds).get_caller_identity()["Arn"] == assumed
    page.click("text=Back to home")

    page.click("#switch-back")
    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(arn)
    expect(page.locator("#switch-back")).to_have_count(0)
    expect(page.locator("#signed-in-as")).to_have_count(0)


# --- signing out ---------------------------------------------------------------------------------------------------


def test_sign_out_ends_the_session(console: Console, context: Any, page: Any, other_page: Any) -> None:
    console.create_user("alice")
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    cookie = session_cookie(context)
    assert cookie is not None

    page.click("#signout")
    wait_for_path(page, "")
    expect(page.locator("#notice")).to_have_text("You have signed out.")
    assert session_cookie(context) is None
    page.goto(console.url("/home"))
    wait_for_path(page, "")

    # the old cookie, replayed from another browser, opens nothing
    other_page.context.add_cookies([{"name": "iamd_session", "value": cookie["value"], "url": console.base}])
    other_page.goto(console.url("/home"))
    wait_for_path(other_page, "")
    expect(other_page.locator("#signin")).to_be_visible()
    expect(other_page.locator("#arn")).to_have_count(0)


# --- the aws-cn partition ---------------------------------------------------------------------------------------------


def test_no_security_keys_in_aws_cn(cn_console: Console, page: Any) -> None:
    cn_console.server.reset()
    arn = cn_console.create_user("carol")
    assert arn == user_arn("carol", "aws-cn")

    page.goto(cn_console.url())
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#passkey-signin")).to_have_count(0)
    sign_in(page, cn_console, "carol")
    wait_for_path(page, "/home")
    expect(page.locator("#arn")).to_have_text(arn)

    page.goto(cn_console.url("/security"))
    expect(page.locator("#no-fido")).to_be_visible()
    expect(page.locator("#no-fido")).to_contain_text("aws-cn")
    expect(page.locator("#add-fido")).to_have_count(0)
    expect(page.locator("#add-fido-form")).to_have_count(0)

    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for path in ("/webauthn/register/options", "/webauthn/register/verify"):
        reply = page.request.post(
            cn_console.url(path), headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}, data="{}"
        )
        assert reply.status == 403, path
        assert "not available" in reply.json()["error"]
    assert cn_console.iam.list_mfa_devices(UserName="carol")["MFADevices"] == []


def test_aws_cn_sign_in_page_shows_no_error(cn_console: Console, page: Any) -> None:
    page.goto(cn_console.url())
    expect(page.locator("#signin")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#error")).to_be_hidden(timeout=1000)


# --- the pages themselves ---------------------------------------------------------------------------------------


def test_device_name_patterns_work_in_the_browser(console: Console, page: Any) -> None:
    console.create_user("alice")
    sign_in(page, console, "alice")
    wait_for_path(page, "/home")
    page.goto(console.url("/security"))
    for field in ("#virtual-name", "#fido-name"):
        page.fill(field, "not a valid name!")
        assert page.locator(field).evaluate("el => el.validity.patternMismatch"), field


def test_keyboard_only_sign_in_with_labelled_fields(console: Console, context: Any, page: Any) -> None:
    """Every field has a label; Tab and Enter alone take a user from the sign-in page to home."""
    device_user = "kim"
    console.create_user(device_user)
    device = enable_virtual_mfa(console, device_user, "kim-phone")

    page.goto(console.url())
    for label in ("Account ID or alias", "IAM user name", "Password"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    page.get_by_label("Account ID or alias", exact=True).focus()
    page.keyboard.type(ACCOUNT_ID)
    page.keyboard.press("Tab")
    page.keyboard.type(device_user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    wait_for_path(page, "/mfa")

    code_field = page.get_by_label("MFA code", exact=True)
    expect(code_field).to_be_focused()  # autofocus: the code can be typed straight away
    page.keyboard.type(code(device.seed, device.enabled_step + 1))
    page.keyboard.press("Enter")
    wait_for_path(page, "/home")
    expect(page.locator("#mfa-state")).to_have_text("used at sign-in")

    page.goto(console.url("/security"))
    for label in ("Current password", "New password", "Confirm new password", "Device name"):
        expect(page.get_by_label(label, exact=True).first).to_be_visible()
