"""IAM users: create, read, list, rename, delete, tags, permissions boundary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.arn import root_arn
from iamd.core.errors import DeleteConflict, EntityAlreadyExists, NoSuchEntity
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.services.targets import (
    created,
    existing,
    listing,
    permissions_boundary,
    request_tags,
    user_or_caller,
)
from iamd.store import tables as t

RESOURCE = "user"


def user_output(ctx: OperationContext, row: Row[Any], *, with_tags: bool = False) -> dict[str, Any]:
    """The ``User`` shape of a ``users`` row.

    The full form (CreateUser, GetUser: ``with_tags=True``) carries PermissionsBoundary and Tags
    when the user has them; the list form (ListUsers, GetGroup's members, ListVirtualMFADevices)
    never does, as AWS's listing operations answer.
    """
    out: dict[str, Any] = {
        "Path": row.path,
        "UserName": row.name,
        "UserId": row.id,
        "Arn": c.arn(ctx, "user", row.path, row.name, row.account_id),
        "CreateDate": row.created_at,
    }
    if row.password_last_used is not None:
        out["PasswordLastUsed"] = row.password_last_used
    if with_tags:
        boundary = c.boundary_output(row.permissions_boundary)
        if boundary:
            out["PermissionsBoundary"] = boundary
        tags = c.get_tags(ctx, RESOURCE, row.id)
        if tags:
            out["Tags"] = tags
    return out


@operation(
    "iam",
    "CreateUser",
    target=created("user", "UserName"),
    request_keys=(request_tags, permissions_boundary),
)
def create_user(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    path = c.check_path(p.get("Path"))
    name: str = p["UserName"]
    if c.find_named(ctx, t.users, name) is not None:
        raise EntityAlreadyExists(f"User with name {name} already exists.")
    c.check_quota(
        ctx,
        "users",
        c.count(ctx, sa.select(t.users.c.id).where(t.users.c.account_id == ctx.account_id)),
        "Cannot exceed quota for UsersPerAccount: {limit}",
    )
    boundary = p.get("PermissionsBoundary")
    if boundary:
        c.check_boundary(ctx, boundary)
    user_id = ids.unique_id(ids.USER_PREFIX)
    ctx.conn.execute(
        t.users.insert().values(
            id=user_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            created_at=ctx.now(),
            permissions_boundary=boundary,
        )
    )
    c.put_tags(ctx, RESOURCE, user_id, p.get("Tags") or [])
    row = ctx.conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).one()
    return {"User": user_output(ctx, row, with_tags=True)}


@operation("iam", "GetUser", target=user_or_caller())
def get_user(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.caller_user_or_named(ctx, p)
    if row is None:
        account = ctx.conn.execute(sa.select(t.accounts).where(t.accounts.c.id == ctx.account_id)).one()
        return {
            "User": {
                "UserId": ctx.account_id,
                "Arn": root_arn(ctx.partition, ctx.account_id),
                "CreateDate": account.created_at,
            }
        }
    return {"User": user_output(ctx, row, with_tags=True)}


@operation("iam", "ListUsers", target=listing("user"))
def list_users(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    u = t.users
    query = sa.select(u).where(u.c.account_id == ctx.account_id)
    prefix = c.path_prefix_filter(u.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [u.c.name_key], p)
    return {"Users": [user_output(ctx, r) for r in rows], **extra}


@operation("iam", "UpdateUser", target=existing("user", "UserName"))
def update_user(ctx: OperationContext, p: dict[str, Any]) -> None:
    new_path = c.check_path(p["NewPath"]) if p.get("NewPath") else None
    row = c.get_user(ctx, p["UserName"])
    values: dict[str, Any] = {}
    new_name = p.get("NewUserName")
    if new_name and new_name != row.name:
        clash = c.find_named(ctx, t.users, new_name)
        if clash is not None and clash.id != row.id:
            raise EntityAlreadyExists(f"User with name {new_name} already exists.")
        values.update(name=new_name, name_key=new_name.lower())
    if new_path is not None:
        values["path"] = new_path
    if values:
        ctx.conn.execute(t.users.update().where(t.users.c.id == row.id).values(**values))
    return None


@operation("iam", "DeleteUser", target=existing("user", "UserName"))
def delete_user(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_user(ctx, p["UserName"])
    uid = row.id
    checks: list[tuple[sa.Select[Any], str]] = [
        (sa.select(t.login_profiles.c.user_id).where(t.login_profiles.c.user_id == uid), "delete login profile"),
        (sa.select(t.access_keys.c.id).where(t.access_keys.c.user_id == uid), "delete access keys"),
        (
            sa.select(t.signing_certificates.c.id).where(t.signing_certificates.c.user_id == uid),
            "delete signing certificates",
        ),
        (sa.select(t.ssh_public_keys.c.id).where(t.ssh_public_keys.c.user_id == uid), "delete SSH public keys"),
        (sa.select(t.group_members.c.group_id).where(t.group_members.c.user_id == uid), "remove user from all groups"),
        (
            sa.select(t.inline_policies.c.name).where(
                t.inline_policies.c.principal_type == "user", t.inline_policies.c.principal_id == uid
            ),
            "delete policies",
        ),
        (
            sa.select(t.policy_attachments.c.policy_id).where(
                t.policy_attachments.c.principal_type == "user", t.policy_attachments.c.principal_id == uid
            ),
            "detach all policies",
        ),
    ]
    for query, what in checks:
        if c.has_rows(ctx, query):
            raise DeleteConflict(f"Cannot delete entity, must {what} first.")
    _check_no_mfa(ctx, uid)
    c.delete_all_tags(ctx, RESOURCE, uid)
    ctx.conn.execute(t.users.delete().where(t.users.c.id == uid))
    return None


def _check_no_mfa(ctx: OperationContext, user_id: str) -> None:
    mfa = t.mfa_devices
    if c.has_rows(ctx, sa.select(mfa.c.id).where(mfa.c.user_id == user_id)):
        raise DeleteConflict("Cannot delete entity, must delete MFA device first.")


@operation(
    "iam", "PutUserPermissionsBoundary", target=existing("user", "UserName"), request_keys=(permissions_boundary,)
)
def put_user_permissions_boundary(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_user(ctx, p["UserName"])
    c.check_boundary(ctx, p["PermissionsBoundary"])
    ctx.conn.execute(
        t.users.update().where(t.users.c.id == row.id).values(permissions_boundary=p["PermissionsBoundary"])
    )
    return None


@operation("iam", "DeleteUserPermissionsBoundary", target=existing("user", "UserName"))
def delete_user_permissions_boundary(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_user(ctx, p["UserName"])
    if not row.permissions_boundary:
        raise NoSuchEntity(f"The user with name {row.name} does not have a permissions boundary.")
    ctx.conn.execute(t.users.update().where(t.users.c.id == row.id).values(permissions_boundary=None))
    return None
