"""Access keys: create, list, activate/deactivate, delete, last used.

A key belongs to an IAM user, or to the account root (``user_id`` NULL).  The secret is
returned once, by CreateAccessKey, and is stored only encrypted under the master key with
the key id as associated data (the credential resolver decrypts it the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.arn import iam_arn
from iamd.core.errors import InvalidInput, NoSuchEntity, ValidationError
from iamd.core.principal import PrincipalKind
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.services.targets import Target, TargetQuery, any_resource, first, user_or_caller
from iamd.store import tables as t

ACTIVE = "Active"
INACTIVE = "Inactive"


# --- whose credentials: shared by the credential modules (keys, certificates, SSH keys, passwords) ---


@dataclass(frozen=True, slots=True)
class Owner:
    """The IAM user a credential call is about, or the account root (``user`` None)."""

    user: Row[Any] | None

    @property
    def user_id(self) -> str | None:
        return None if self.user is None else str(self.user.id)

    @property
    def is_root(self) -> bool:
        return self.user is None

    def name(self, ctx: OperationContext) -> str:
        """The UserName AWS reports: the user's name, or the account id for the root."""
        return ctx.account_id if self.user is None else str(self.user.name)

    def owns(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """A WHERE clause matching rows owned by this owner (NULL user id for the root)."""
        return column.is_(None) if self.user is None else column == self.user.id


def resolve_owner(ctx: OperationContext, params: Mapping[str, Any], *, allow_root: bool = True) -> Owner:
    """The named user; else the calling IAM user; else the root itself when ``allow_root``.

    Other callers (role sessions, federated users, or root where the call needs a user)
    must name the user, as AWS requires.
    """
    name = params.get("UserName")
    if name:
        return Owner(c.get_user(ctx, str(name)))
    caller = ctx.caller
    if caller.kind is PrincipalKind.USER and caller.entity_id:
        row = ctx.conn.execute(
            sa.select(t.users).where(t.users.c.id == caller.entity_id, t.users.c.account_id == ctx.account_id)
        ).first()
        if row is None:
            raise NoSuchEntity(f"The user with name {caller.name} cannot be found.")
        return Owner(row)
    if caller.kind is PrincipalKind.ROOT and allow_root:
        return Owner(None)
    raise ValidationError("Must specify userName when calling with non-User credentials")


def check_status(status: str) -> str:
    if status not in (ACTIVE, INACTIVE):
        raise InvalidInput(f"Invalid status {status}: the status must be Active or Inactive.")
    return status


# --- access keys ----------------------------------------------------------------------------------


def _not_found(key_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")


def _owned_key(ctx: OperationContext, owner: Owner, key_id: str) -> Row[Any]:
    k = t.access_keys
    row = ctx.conn.execute(
        sa.select(k).where(k.c.id == key_id, k.c.account_id == ctx.account_id, owner.owns(k.c.user_id))
    ).first()
    if row is None:
        raise _not_found(key_id)
    return row


def _metadata(ctx: OperationContext, owner: Owner, row: Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if owner.user is not None:
        out["UserName"] = owner.user.name
    out.update(AccessKeyId=row.id, Status=row.status, CreateDate=row.created_at)
    return out


@operation("iam", "CreateAccessKey", target=user_or_caller())
def create_access_key(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    owner = resolve_owner(ctx, p)
    k = t.access_keys
    existing = c.count(ctx, sa.select(k.c.id).where(k.c.account_id == ctx.account_id, owner.owns(k.c.user_id)))
    c.check_quota(
        ctx,
        "access_keys_root" if owner.is_root else "access_keys_per_user",
        existing,
        "Cannot exceed quota for AccessKeysPerUser: {limit}",
    )
    key_id = ids.access_key_id()
    while ctx.conn.execute(sa.select(k.c.id).where(k.c.id == key_id)).first() is not None:
        key_id = ids.access_key_id()  # pragma: no cover - 80 random bits
    secret = ids.secret_access_key()
    now = ctx.now()
    ctx.conn.execute(
        k.insert().values(
            id=key_id,
            account_id=ctx.account_id,
            user_id=owner.user_id,
            secret_enc=ctx.box.encrypt_text(secret, aad=key_id),
            status=ACTIVE,
            created_at=now,
        )
    )
    return {
        "AccessKey": {
            "UserName": owner.name(ctx),
            "AccessKeyId": key_id,
            "Status": ACTIVE,
            "SecretAccessKey": secret,
            "CreateDate": now,
        }
    }


@operation("iam", "ListAccessKeys", target=user_or_caller())
def list_access_keys(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    owner = resolve_owner(ctx, p)
    k = t.access_keys
    query = sa.select(k.c.id, k.c.status, k.c.created_at).where(
        k.c.account_id == ctx.account_id, owner.owns(k.c.user_id)
    )
    rows, extra = c.paginate(ctx, query, [k.c.id], p)
    return {"AccessKeyMetadata": [_metadata(ctx, owner, r) for r in rows], **extra}


@operation("iam", "UpdateAccessKey", target=user_or_caller())
def update_access_key(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = resolve_owner(ctx, p)
    status = check_status(p["Status"])
    row = _owned_key(ctx, owner, p["AccessKeyId"])
    if row.status != status:
        ctx.conn.execute(t.access_keys.update().where(t.access_keys.c.id == row.id).values(status=status))
    return None


@operation("iam", "DeleteAccessKey", target=user_or_caller())
def delete_access_key(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = resolve_owner(ctx, p)
    row = _owned_key(ctx, owner, p["AccessKeyId"])
    ctx.conn.execute(t.access_keys.delete().where(t.access_keys.c.id == row.id))
    return None


def _key_owner(q: TargetQuery) -> Target | None:
    """GetAccessKeyLastUsed acts on the user who owns the key (AWS: resource type ``user``)."""
    k, u = t.access_keys, t.users
    row = q.conn.execute(
        sa.select(u.c.name, u.c.path)
        .select_from(k.join(u, u.c.id == k.c.user_id))
        .where(k.c.id == q.params.get("AccessKeyId"), k.c.account_id == q.account)
    ).first()
    return None if row is None else Target(iam_arn(q.partition, q.account, "user", row.path, row.name))


@operation("iam", "GetAccessKeyLastUsed", target=first(_key_owner, any_resource))
def get_access_key_last_used(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    k, u = t.access_keys, t.users
    key_id = p["AccessKeyId"]
    row = ctx.conn.execute(
        sa.select(k.c.id, k.c.user_id, k.c.last_used_at, k.c.last_used_service, k.c.last_used_region, u.c.name)
        .select_from(k.outerjoin(u, u.c.id == k.c.user_id))
        .where(k.c.id == key_id, k.c.account_id == ctx.account_id)
    ).first()
    if row is None:
        raise _not_found(key_id)
    last_used: dict[str, Any] = {}
    if row.last_used_at is not None:
        last_used["LastUsedDate"] = row.last_used_at
    last_used["ServiceName"] = row.last_used_service or "N/A"
    last_used["Region"] = row.last_used_region or "N/A"
    out: dict[str, Any] = {}
    if row.user_id is not None:
        out["UserName"] = row.name
    out["AccessKeyLastUsed"] = last_used
    return out
