"""Helpers for the console's browser tests: users, TOTP codes, page steps, a virtual authenticator."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iamd.core import totp
from tests.support.server import ACCOUNT_ID, Server
from tests.support.totp_steps import code, fresh_step

SCREENSHOTS = Path(__file__).parent / "screenshots"
"""Where the screenshots go (git-ignored)."""

PASSWORD = "Correct-Horse-Battery-1"
TIMEOUT_MS = 15_000
"""Playwright's waits (actions, navigations) in the browser tests."""


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass
class Console:
    """A server under test, as the browser sees it (``base``) and as the API does (``iam``)."""

    server: Server
    base: str
    partition: str = "aws"

    @property
    def iam(self) -> Any:
        return self.server.client("iam")

    def sts(self, creds: dict[str, str] | None = None) -> Any:
        if creds is None:
            return self.server.client("sts")
        return self.server.client(
            "sts",
            access_key_id=creds["AWS_ACCESS_KEY_ID"],
            secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            session_token=creds["AWS_SESSION_TOKEN"],
        )

    def url(self, path: str = "") -> str:
        return f"{self.base}/console{path}"

    def arn(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:iam::{ACCOUNT_ID}:{kind}/{name}"

    def create_user(
        self, name: str, password: str = PASSWORD, *, reset_required: bool = False, admin: bool = True
    ) -> str:
        """A user with a console password (and IAMFullAccess for the self-service pages); its ARN."""
        iam = self.iam
        arn = str(iam.create_user(UserName=name)["User"]["Arn"])
        iam.create_login_profile(UserName=name, Password=password, PasswordResetRequired=reset_required)
        if admin:
            iam.attach_user_policy(UserName=name, PolicyArn=f"arn:{self.partition}:iam::aws:policy/IAMFullAccess")
        return arn


# --- TOTP ----------------------------------------------------------------------------------------------------


@dataclass
class VirtualDevice:
    serial: str
    seed: bytes
    enabled_step: int
    """The step of the second enabling code: the next unused code is the one of ``enabled_step + 1``."""


def enable_virtual_mfa(console: Console, user: str, name: str) -> VirtualDevice:
    """A virtual MFA device for ``user``, created and enabled over the API with codes (t-1, t)."""
    iam = console.iam
    out = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    seed = totp.from_base32(out["Base32StringSeed"].decode())
    step = fresh_step()
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=out["SerialNumber"],
        AuthenticationCode1=code(seed, step - 1),
        AuthenticationCode2=code(seed, step),
    )
    return VirtualDevice(out["SerialNumber"], seed, step)


# --- page helpers ---------------------------------------------------------------------------------------------


def sign_in(page: Any, console: Console, user: str, password: str = PASSWORD, account: str = ACCOUNT_ID) -> None:
    """Fill and submit the IAM user sign-in form (the caller waits for where it should land)."""
    page.goto(console.url())
    page.fill("#account", account)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#signin")


def wait_for_path(page: Any, path: str) -> None:
    """Wait until the page is at exactly ``/console{path}`` (query string allowed)."""
    page.wait_for_url(re.compile(r"^https?://[^/]+/console" + re.escape(path) + r"(\?.*)?$"))


def watch_for_errors(page: Any) -> list[str]:
    """A list that collects the page's uncaught exceptions and Content-Security-Policy violations."""
    errors: list[str] = []

    def console_message(msg: Any) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            errors.append(msg.text)

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console_message)
    return errors


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def session_cookie(context: Any) -> dict[str, Any] | None:
    return next((c for c in context.cookies() if c["name"] == "iamd_session"), None)


# --- WebAuthn: a virtual authenticator through the DevTools protocol -------------------------------------------


@dataclass
class Authenticator:
    cdp: Any
    id: str

    def credentials(self) -> list[dict[str, Any]]:
        return list(self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"])

    def add_credential(self, credential: dict[str, Any]) -> None:
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id, "credential": credential})

    def presence(self, enabled: bool) -> None:
        """Whether the authenticator answers at once (off: requests wait, as for a user not touching it)."""
        self.cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": self.id, "enabled": enabled})


def add_authenticator(context: Any, page: Any, *, resident_keys: bool = True) -> Authenticator:
    """A virtual authenticator that always consents and verifies the user.

    With ``resident_keys`` a platform authenticator (its credentials are passkeys); without, a
    USB security key whose credentials are not discoverable.
    """
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    out = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal" if resident_keys else "usb",
                "hasResidentKey": resident_keys,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return Authenticator(cdp, out["authenticatorId"])


def register_device(page: Any, console: Console, name: str) -> str:
    """Register the page's virtual authenticator on the Security credentials page; the new device's serial."""
    page.goto(console.url("/security"))
    page.fill("#fido-name", name)
    page.click("#add-fido")
    row = page.locator("#devices tbody tr", has_text=name)
    error = page.locator("#error")
    row.or_(error.filter(visible=True)).first.wait_for()
    assert error.is_hidden(), f"registration refused: {error.text_content()}"
    wait_for_path(page, "/security")
    return str(row.get_attribute("data-serial"))
