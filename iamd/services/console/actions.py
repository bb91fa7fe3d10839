"""What a signed-in console user does, each as the IAM or STS call it stands for.

Every action goes through iamd.services.dispatch with the session's identity as the caller, so
the same policies decide it as the API call would (ChangePassword, ListMFADevices,
CreateVirtualMFADevice, EnableMFADevice, DeactivateMFADevice, DeleteVirtualMFADevice,
AssumeRole).  Registering a security key or passkey has no API call of its own; it is
authorized as iam:EnableMFADevice on the user, as AWS documents for the console.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from iamd.auth.session_tokens import SessionClaims
from iamd.core import ids
from iamd.core.principal import Principal
from iamd.services.console import sessions
from iamd.services.console.identity import Identity, seal_role_token
from iamd.services.console.sessions import ConsoleSession
from iamd.services.console.signin import resolve_account
from iamd.services.dispatch import dispatch
from iamd.services.runtime import Runtime
from iamd.store import tables as t

SWITCH_ROLE_SECONDS = 3600
"""AWS: a role session started by switching roles in the console lasts one hour."""
ROOT_CREDENTIALS_MAX = 3600
USER_CREDENTIALS_MAX = 129600

RequestKeys = Mapping[str, str | Sequence[str]]
InputParser = Callable[[str, str, Mapping[str, str]], dict[str, Any]]
"""The API's own input parsing and validation (botocore's model), handed down by the web layer."""

_OWNER_ACTIONS = ("EnableMFADevice", "DeactivateMFADevice")


@dataclass(frozen=True, slots=True)
class Caller:
    """The console's caller for one request: who, and the request's global condition keys."""

    rt: Runtime
    identity: Identity
    request_keys: RequestKeys
    source_ip: str
    parse: InputParser

    def call(self, service: str, action: str, params: dict[str, str], *, as_signed_in: bool = False) -> dict[str, Any]:
        """Validate ``params`` exactly as the API would, then run the operation as the console's caller.

        The web layer refreshes the node's caches at the start of every console request, as the API does."""
        principal: Principal = self.identity.signed_in if as_signed_in else self.identity.principal
        inputs = self.parse(service, action, params)
        if self.identity.user_name is None and action in _OWNER_ACTIONS:
            # the root's own devices: no UserName, so an IAM user named like the account id is never meant
            inputs.pop("UserName", None)
        result = dispatch(
            self.rt,
            service,
            action,
            principal,
            inputs,
            self.request_keys,
            region=self.rt.settings.identity.region,
            source_ip=self.source_ip,
        )
        return dict(result or {})

    @property
    def owner_name(self) -> str:
        """``UserName`` for the signed-in identity's own devices (the account id for root)."""
        return self.identity.user_name or self.identity.signed_in.account_id


# --- password -------------------------------------------------------------------------------------------


def change_password(caller: Caller, old: str, new: str) -> None:
    caller.call("iam", "ChangePassword", {"OldPassword": old, "NewPassword": new}, as_signed_in=True)


# --- MFA devices ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceView:
    serial: str
    name: str
    kind: str
    """``virtual``, ``hardware``, ``passkey`` or ``security key``."""
    enabled_at: float


def list_devices(caller: Caller) -> list[DeviceView]:
    listed = caller.call("iam", "ListMFADevices", {}, as_signed_in=True).get("MFADevices", [])
    serials = [d["SerialNumber"] for d in listed]
    if not serials:
        return []
    d, w = t.mfa_devices, t.webauthn_credentials
    with caller.rt.db.read() as conn:
        rows = {
            r.serial: r
            for r in conn.execute(
                sa.select(d.c.serial, d.c.name, d.c.kind, w.c.discoverable)
                .select_from(d.outerjoin(w, w.c.serial == d.c.serial))
                .where(d.c.serial.in_(serials))
            )
        }
    out = []
    for item in listed:
        row = rows.get(item["SerialNumber"])
        if row is None:
            continue
        kind = row.kind if row.kind != "fido" else "passkey" if row.discoverable else "security key"
        out.append(DeviceView(row.serial, row.name, kind, float(item["EnableDate"])))
    return out


@dataclass(frozen=True, slots=True)
class NewVirtualDevice:
    serial: str
    seed_base32: str
    qr_png_base64: str


def create_virtual_device(caller: Caller, name: str) -> NewVirtualDevice:
    out = caller.call("iam", "CreateVirtualMFADevice", {"VirtualMFADeviceName": name}, as_signed_in=True)
    device = out["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    return NewVirtualDevice(
        serial=device["SerialNumber"],
        seed_base32=seed.decode() if isinstance(seed, bytes) else str(seed),
        qr_png_base64=base64.b64encode(device["QRCodePNG"]).decode(),
    )


def enable_virtual_device(caller: Caller, serial: str, code1: str, code2: str) -> None:
    caller.call(
        "iam",
        "EnableMFADevice",
        {
            "UserName": caller.owner_name,
            "SerialNumber": serial,
            "AuthenticationCode1": code1.strip(),
            "AuthenticationCode2": code2.strip(),
        },
        as_signed_in=True,
    )


def abandon_virtual_device(caller: Caller, serial: str) -> None:
    """Delete a virtual device that was created but never enabled (the set-up was left)."""
    caller.call("iam", "DeleteVirtualMFADevice", {"SerialNumber": serial}, as_signed_in=True)


def remove_device(caller: Caller, serial: str) -> None:
    """Deactivate the device; a virtual one is deleted as well, as the console's Remove does."""
    with caller.rt.db.read() as conn:
        row = conn.execute(sa.select(t.mfa_devices.c.kind).where(t.mfa_devices.c.serial == serial)).first()
    caller.call(
        "iam", "DeactivateMFADevice", {"UserName": caller.owner_name, "SerialNumber": serial}, as_signed_in=True
    )  # for root, Caller.call drops UserName
    if row is not None and row.kind == "virtual":
        caller.call("iam", "DeleteVirtualMFADevice", {"SerialNumber": serial}, as_signed_in=True)


def authorize_fido_registration(caller: Caller) -> None:
    """Registering a FIDO device needs iam:EnableMFADevice on the user, as in AWS's console."""
    identity = caller.identity
    if identity.user_name is None:
        return  # the root is not limited by policies
    with caller.rt.db.read() as conn:
        caller.rt.authorizer.authorize_operation(
            conn,
            caller.rt.operations[("iam", "EnableMFADevice")],
            identity.signed_in,
            {"UserName": identity.user_name},
            caller.request_keys,
        )


# --- roles and credentials -------------------------------------------------------------------------------


def role_arn_for(rt: Runtime, account_ref: str, role: str) -> str:
    """A full role ARN from what the switch-role form holds (an ARN, or an account and role name)."""
    role = role.strip()
    if role.startswith("arn:"):
        return role
    with rt.db.read() as conn:
        account_id = resolve_account(conn, account_ref) or account_ref.strip()
        r = t.roles
        row = conn.execute(
            sa.select(r.c.path, r.c.name).where(r.c.account_id == account_id, r.c.name_key == role.lower())
        ).first()
    path, name = (row.path, row.name) if row is not None else ("/", role)
    return f"arn:{rt.settings.identity.partition}:iam::{account_id}:role{path}{name}"


def session_name(name: str) -> str:
    """RoleSessionName from a user name: 2 to 64 characters of the names' alphabet."""
    cleaned = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch in "+=,.@-_"))
    return (cleaned if len(cleaned) >= 2 else f"{cleaned}-console")[:64]


def switch_role(caller: Caller, session: ConsoleSession, role_arn: str) -> ConsoleSession:
    """AssumeRole as the signed-in user (or root); the session then acts as the role."""
    name = caller.identity.user_name or "root"
    out = caller.call(
        "sts",
        "AssumeRole",
        {"RoleArn": role_arn, "RoleSessionName": session_name(name), "DurationSeconds": str(SWITCH_ROLE_SECONDS)},
        as_signed_in=True,
    )
    token = out["Credentials"]["SessionToken"]
    with caller.rt.db.side_write() as conn:
        return sessions.update(conn, session, role_token_enc=seal_role_token(caller.rt, token))


def switch_back(rt: Runtime, session: ConsoleSession) -> ConsoleSession:
    with rt.db.side_write() as conn:
        return sessions.update(conn, session, role_token_enc=None)


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float


def command_line_credentials(rt: Runtime, identity: Identity, session: ConsoleSession) -> TemporaryCredentials:
    """Temporary credentials for the current identity.

    In a role: the role session's own credentials.  As the user or root: credentials like
    GetSessionToken's (carrying the sign-in's MFA), ending with the console session and never
    later than GetSessionToken allows (1 hour for root, 36 hours for users).
    """
    if identity.role is not None and identity.role_token is not None:
        role = identity.role
        return TemporaryCredentials(role.access_key_id, role.secret_access_key, identity.role_token, role.expires_at)
    me = identity.signed_in
    now = rt.clock.time()
    limit = ROOT_CREDENTIALS_MAX if session.is_root else USER_CREDENTIALS_MAX
    claims = SessionClaims(
        account_id=me.account_id,
        access_key_id=ids.temporary_access_key_id(me.account_id),
        secret_access_key=ids.secret_access_key(),
        principal_kind="root" if session.is_root else "user",
        arn=me.arn,
        user_id=me.user_id,
        name=me.name,
        issued_at=now,
        expires_at=min(session.expires_at, now + limit),
        entity_id=me.entity_id,
        mfa_authenticated_at=session.mfa_at,
        source_arn=me.arn,
    )
    token = rt.token_keys.ring().seal(claims)
    return TemporaryCredentials(claims.access_key_id, claims.secret_access_key, token, claims.expires_at)
