"""IAM MFA devices: virtual devices, hardware TOTP tokens, enable/resync/deactivate, tags.

The root user's devices: AWS enables root MFA only in the console; iamd lets the root do it
over the API by naming its own account id as ``UserName`` (the root's UserId), or by leaving
UserName out where the API allows it.  ListMFADevices shows the root's devices under the
account id.

EnableMFADevice and ResyncMFADevice are registered as read operations: their writes (device,
used codes, failure counters, event log) go through a write transaction of their own that
commits even when the codes are refused, so wrong codes are counted (see iamd.services.mfa).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import segno
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.core import ids, totp
from iamd.core.arn import root_arn
from iamd.core.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidAuthenticationCode,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from iamd.core.principal import PrincipalKind
from iamd.services import mfa
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.users import user_output
from iamd.services.registry import operation
from iamd.services.targets import (
    any_resource,
    arn_param,
    created,
    existing,
    first,
    request_tags,
    user_or_caller,
)
from iamd.store import tables as t

RESOURCE = "mfa"
VIRTUAL = "virtual"
HARDWARE = "hardware"
FIDO = "fido"
"""Security keys and passkeys, registered in the web console (iamd.services.console.fido_devices)."""
INVALID_CODE = "Authentication code for device is not valid."
MAX_NAME = 226
MAX_SERIAL = 256
"""serialNumberType's maximum length: EnableMFADevice and the rest name a device by serial."""


# --- owners --------------------------------------------------------------------------------------


class Owner:
    """An IAM user (row) or the account's root (row None)."""

    def __init__(self, account_id: str, user: Row[Any] | None) -> None:
        self.account_id = account_id
        self.user = user

    @property
    def is_root(self) -> bool:
        return self.user is None

    @property
    def name(self) -> str:
        return self.account_id if self.user is None else str(self.user.name)

    def devices(self) -> sa.ColumnElement[bool]:
        return owned_by(self.account_id, None if self.user is None else str(self.user.id))

    def lock(self, conn: Connection) -> None:
        """Serialize changes to this owner's devices (the eight-device quota) across transactions."""
        lock_owner(conn, self.account_id, None if self.user is None else str(self.user.id))

    def owns(self, row: Row[Any]) -> bool:
        if row.account_id != self.account_id or row.enabled_at is None:
            return False
        return bool(row.is_root) if self.user is None else row.user_id == self.user.id


def owned_by(account_id: str, user_id: str | None) -> sa.ColumnElement[bool]:
    """The devices of a user, or of the account's root when ``user_id`` is None."""
    d = t.mfa_devices
    if user_id is None:
        return sa.and_(d.c.account_id == account_id, d.c.is_root.is_(True))
    return d.c.user_id == user_id


def lock_owner(conn: Connection, account_id: str, user_id: str | None) -> None:
    """Lock the user's row (the account's for the root) for the rest of the transaction."""
    if user_id is None:
        conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id).with_for_update())
    else:
        conn.execute(sa.select(t.users.c.id).where(t.users.c.id == user_id).with_for_update())


def _owner(ctx: OperationContext, name: str | None) -> Owner:
    """The named user; the root when the root names its account id; the caller when no name is given."""
    caller = ctx.caller
    if name:
        if caller.kind is PrincipalKind.ROOT and name == ctx.account_id and c.find_named(ctx, t.users, name) is None:
            return Owner(ctx.account_id, None)
        return Owner(ctx.account_id, c.get_user(ctx, name))
    if caller.kind is PrincipalKind.ROOT:
        return Owner(ctx.account_id, None)
    if caller.kind is PrincipalKind.USER and caller.entity_id:
        row = ctx.conn.execute(sa.select(t.users).where(t.users.c.id == caller.entity_id)).first()
        if row is not None:
            return Owner(ctx.account_id, row)
    raise ValidationError("Must specify userName when calling with non-User credentials")


# --- lookups ---------------------------------------------------------------------------------------


def _no_such_device(serial: str) -> NoSuchEntity:
    if serial.startswith("arn:"):
        return NoSuchEntity(f"VirtualMFADevice with serial number {serial} doesn't exist.")
    return NoSuchEntity(f"MFA Device with serial number {serial} does not exist.")


def _device(conn: Connection, serial: str, *, for_update: bool = False) -> Row[Any] | None:
    d = t.mfa_devices
    query = sa.select(d).where(d.c.serial == serial)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).first()


def _account_device(ctx: OperationContext, serial: str, conn: Connection | None = None) -> Row[Any]:
    """A device visible to this account: its virtual devices and the hardware tokens it uses."""
    row = _device(conn or ctx.conn, serial)
    if row is None or row.account_id != ctx.account_id:
        raise _no_such_device(serial)
    return row


def virtual_device(ctx: OperationContext, serial: str) -> Row[Any]:
    row = _account_device(ctx, serial)
    if row.kind != VIRTUAL:
        raise _no_such_device(serial)
    return row


def _actor(ctx: OperationContext) -> mfa.Actor:
    return mfa.Actor(ctx.account_id, ctx.caller.arn, ctx.source_ip)


def _root_user_output(ctx: OperationContext) -> dict[str, Any]:
    account = ctx.conn.execute(sa.select(t.accounts.c.created_at).where(t.accounts.c.id == ctx.account_id)).one()
    return {"UserId": ctx.account_id, "Arn": root_arn(ctx.partition, ctx.account_id), "CreateDate": account.created_at}


# --- CreateVirtualMFADevice / DeleteVirtualMFADevice ---------------------------------------------------


def qr_png(uri: str) -> bytes:
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(out, kind="png", scale=6, border=4)
    return out.getvalue()


@operation("iam", "CreateVirtualMFADevice", target=created("mfa", "VirtualMFADeviceName"), request_keys=(request_tags,))
def create_virtual_mfa_device(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    name: str = p["VirtualMFADeviceName"]
    path = c.check_path(p.get("Path"))
    if len(name) > MAX_NAME:
        raise ValidationError(
            "1 validation error detected: Value at 'virtualMFADeviceName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_NAME}"
        )
    d = t.mfa_devices
    serial = c.arn(ctx, "mfa", path, name)
    if len(serial) > MAX_SERIAL:  # such a device could never be named in EnableMFADevice
        raise ValidationError(
            f"1 validation error detected: Value '{serial}' at 'serialNumber' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_SERIAL}"
        )
    # Unique by path and name (the API reference: "Use with path to uniquely identify a virtual
    # MFA device"): the same name may be used again under another path.
    same_place = sa.and_(d.c.account_id == ctx.account_id, d.c.path == path, d.c.name_key == name.lower())
    clash = ctx.conn.execute(sa.select(d.c.id).where(sa.or_(same_place, d.c.serial == serial))).first()
    if clash is not None:
        raise EntityAlreadyExists("MFADevice entity at the same path and name already exists.")
    c.validate_tags(p.get("Tags") or [])
    seed = totp.new_seed()
    device_id = ids.unique_id("AMFA")[:32]
    ctx.conn.execute(
        d.insert().values(
            id=device_id,
            account_id=ctx.account_id,
            user_id=None,
            is_root=False,
            name=name,
            name_key=name.lower(),
            path=path,
            serial=serial,
            kind=VIRTUAL,
            seed_enc=mfa.seal_seed(ctx.box, serial, seed),
            algorithm=totp.DEFAULT_ALGORITHM,
            digits=totp.DEFAULT_DIGITS,
            period=totp.DEFAULT_PERIOD,
            drift=0,
            partition_restriction=None,
            enabled_at=None,
            created_at=ctx.now(),
        )
    )
    c.put_tags(ctx, RESOURCE, device_id, p.get("Tags") or [])
    issuer = ctx.mfa_settings.issuer
    uri = totp.otpauth_uri(issuer, f"{name}@{ctx.account_id}", seed)
    out: dict[str, Any] = {
        "SerialNumber": serial,
        "Base32StringSeed": totp.base32(seed).encode("ascii"),
        "QRCodePNG": qr_png(uri),
    }
    tags = c.get_tags(ctx, RESOURCE, device_id)
    if tags:
        out["Tags"] = tags
    return {"VirtualMFADevice": out}


@operation("iam", "DeleteVirtualMFADevice", target=arn_param("SerialNumber"))
def delete_virtual_mfa_device(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = virtual_device(ctx, p["SerialNumber"])
    if row.user_id is not None or row.is_root or row.enabled_at is not None:
        raise DeleteConflict("MFA Device is still in use")
    c.delete_all_tags(ctx, RESOURCE, row.id)
    ctx.conn.execute(t.mfa_devices.delete().where(t.mfa_devices.c.id == row.id))
    return None


# --- EnableMFADevice / ResyncMFADevice / DeactivateMFADevice ---------------------------------------------


def _check_partition(ctx: OperationContext, row: Row[Any]) -> None:
    restriction = row.partition_restriction
    if restriction and restriction != ctx.partition:
        raise InvalidInput(
            f"The MFA device {row.serial} is restricted to the {restriction} partition "
            f"and cannot be enabled in the {ctx.partition} partition."
        )


@operation("iam", "EnableMFADevice", target=existing("user", "UserName"), writes=False)
def enable_mfa_device(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = _owner(ctx, p.get("UserName"))
    serial: str = p["SerialNumber"]
    codes = [p["AuthenticationCode1"], p["AuthenticationCode2"]]
    now = ctx.now()
    d = t.mfa_devices
    refused = False
    with ctx.write_transaction() as conn:
        row = _device(conn, serial, for_update=True)
        if row is None or row.kind == FIDO or (row.kind == VIRTUAL and row.account_id != ctx.account_id):
            raise _no_such_device(serial)
        if row.user_id is not None or row.is_root or row.enabled_at is not None:
            raise EntityAlreadyExists("MFA Device is already in use.")
        _check_partition(ctx, row)
        owner.lock(conn)
        in_use = int(conn.execute(sa.select(sa.func.count()).select_from(d).where(owner.devices())).scalar() or 0)
        limit, pol = ctx.quotas.mfa_devices_per_user, ctx.mfa_settings
        if in_use >= limit:
            raise LimitExceeded(f"Cannot exceed quota for MFADevicesPerUser: {limit}")
        token = mfa.token_of(ctx.box, row)
        result = mfa.verify(conn, token, codes, now, window=pol.window, actor=_actor(ctx), purpose="enable", pol=pol)
        if result.accepted:
            conn.execute(
                d.update()
                .where(d.c.id == row.id)
                .values(
                    account_id=ctx.account_id,
                    user_id=None if owner.user is None else owner.user.id,
                    is_root=owner.is_root,
                    enabled_at=now,
                    drift=result.drift or 0,
                )
            )
            mfa.record_event(conn, serial, "enabled", now, _actor(ctx), f"assigned to {owner.name}")
        else:
            refused = True
    if refused:
        raise InvalidAuthenticationCode(INVALID_CODE)
    return None


@operation("iam", "ResyncMFADevice", target=existing("user", "UserName"), writes=False)
def resync_mfa_device(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = _owner(ctx, p.get("UserName"))
    serial: str = p["SerialNumber"]
    codes = [p["AuthenticationCode1"], p["AuthenticationCode2"]]
    now = ctx.now()
    d = t.mfa_devices
    refused = False
    with ctx.write_transaction() as conn:
        row = _device(conn, serial, for_update=True)
        if row is None or not owner.owns(row) or row.kind == FIDO:
            raise _no_such_device(serial)
        token = mfa.token_of(ctx.box, row)
        pol = ctx.mfa_settings
        result = mfa.verify(
            conn, token, codes, now, window=pol.resync_window, actor=_actor(ctx), purpose="resync", pol=pol
        )
        if result.accepted:
            conn.execute(d.update().where(d.c.id == row.id).values(drift=result.drift or 0))
            mfa.record_event(conn, serial, "resynced", now, _actor(ctx), f"drift {result.drift or 0} steps")
        else:
            refused = True
    if refused:
        raise InvalidAuthenticationCode(INVALID_CODE)
    return None


@operation("iam", "DeactivateMFADevice", target=first(existing("user", "UserName"), arn_param("SerialNumber")))
def deactivate_mfa_device(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = _owner(ctx, p.get("UserName"))
    serial: str = p["SerialNumber"]
    row = _device(ctx.conn, serial)
    if row is None or not owner.owns(row):
        raise NoSuchEntity(f"MFA Device with serial number {serial} not found for user {owner.name}.")
    d = t.mfa_devices
    if row.kind == FIDO:  # a security key or passkey only exists while assigned: AWS removes it
        ctx.conn.execute(d.delete().where(d.c.id == row.id))
        mfa.record_event(ctx.conn, serial, "deleted", ctx.now(), _actor(ctx), f"was assigned to {owner.name}")
        return None
    values: dict[str, Any] = {"user_id": None, "is_root": False, "enabled_at": None, "drift": 0}
    if row.kind == HARDWARE:
        values["account_id"] = None  # back to the pool: any account may enable it again
    ctx.conn.execute(d.update().where(d.c.id == row.id).values(**values))
    mfa.record_event(ctx.conn, serial, "deactivated", ctx.now(), _actor(ctx), f"was assigned to {owner.name}")
    return None


# --- reads -------------------------------------------------------------------------------------------------


@operation("iam", "ListMFADevices", target=user_or_caller())
def list_mfa_devices(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    owner = _owner(ctx, p.get("UserName"))
    d = t.mfa_devices
    query = sa.select(d).where(owner.devices(), d.c.enabled_at.is_not(None))
    rows, extra = c.paginate(ctx, query, [d.c.serial], p)
    devices = [{"UserName": owner.name, "SerialNumber": r.serial, "EnableDate": r.enabled_at} for r in rows]
    return {"MFADevices": devices, **extra}


@operation("iam", "ListVirtualMFADevices", target=any_resource)
def list_virtual_mfa_devices(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    d = t.mfa_devices
    query = sa.select(d).where(d.c.account_id == ctx.account_id, d.c.kind == VIRTUAL)
    status = p.get("AssignmentStatus") or "Any"
    if status == "Assigned":
        query = query.where(d.c.enabled_at.is_not(None))
    elif status == "Unassigned":
        query = query.where(d.c.enabled_at.is_(None))
    rows, extra = c.paginate(ctx, query, [d.c.serial], p)
    users: dict[str, Row[Any]] = {}
    user_ids = [r.user_id for r in rows if r.user_id is not None]
    if user_ids:
        users = {u.id: u for u in ctx.conn.execute(sa.select(t.users).where(t.users.c.id.in_(user_ids)))}
    out: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {"SerialNumber": r.serial}
        if r.enabled_at is not None:
            if r.is_root:
                item["User"] = _root_user_output(ctx)
            elif r.user_id in users:
                item["User"] = user_output(ctx, users[r.user_id])
            item["EnableDate"] = r.enabled_at
        tags = c.get_tags(ctx, RESOURCE, r.id)
        if tags:
            item["Tags"] = tags
        out.append(item)
    return {"VirtualMFADevices": out, **extra}


@operation("iam", "GetMFADevice", target=first(existing("user", "UserName"), arn_param("SerialNumber")))
def get_mfa_device(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    serial: str = p["SerialNumber"]
    row = _account_device(ctx, serial)
    if p.get("UserName"):
        owner = _owner(ctx, p["UserName"])
        if not owner.owns(row):
            raise NoSuchEntity(f"MFA Device with serial number {serial} not found for user {owner.name}.")
    out: dict[str, Any] = {"SerialNumber": row.serial}
    if row.enabled_at is not None:
        out["EnableDate"] = row.enabled_at
        if row.is_root:
            out["UserName"] = ctx.account_id
        elif row.user_id is not None:
            user = ctx.conn.execute(sa.select(t.users.c.name).where(t.users.c.id == row.user_id)).first()
            if user is not None:
                out["UserName"] = user.name
    return out
