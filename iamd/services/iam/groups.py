"""IAM groups: create, read (with members), list, rename, delete, membership."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import DeleteConflict, EntityAlreadyExists
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.users import user_output
from iamd.services.registry import operation
from iamd.services.targets import created, existing, listing
from iamd.store import tables as t


def group_output(ctx: OperationContext, row: Row[Any]) -> dict[str, Any]:
    return {
        "Path": row.path,
        "GroupName": row.name,
        "GroupId": row.id,
        "Arn": c.arn(ctx, "group", row.path, row.name, row.account_id),
        "CreateDate": row.created_at,
    }


@operation("iam", "CreateGroup", target=created("group", "GroupName"))
def create_group(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    path = c.check_path(p.get("Path"))
    name: str = p["GroupName"]
    g = t.groups
    if c.find_named(ctx, g, name) is not None:
        raise EntityAlreadyExists(f"Group with name {name} already exists.")
    c.check_quota(
        ctx,
        "groups",
        c.count(ctx, sa.select(g.c.id).where(g.c.account_id == ctx.account_id)),
        "Cannot exceed quota for GroupsPerAccount: {limit}",
    )
    group_id = ids.unique_id(ids.GROUP_PREFIX)
    ctx.conn.execute(
        g.insert().values(
            id=group_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            created_at=ctx.now(),
        )
    )
    row = ctx.conn.execute(sa.select(g).where(g.c.id == group_id)).one()
    return {"Group": group_output(ctx, row)}


@operation("iam", "GetGroup", target=existing("group", "GroupName"))
def get_group(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    group = c.get_group(ctx, p["GroupName"])
    u, gm = t.users, t.group_members
    query = sa.select(u).select_from(u.join(gm, gm.c.user_id == u.c.id)).where(gm.c.group_id == group.id)
    rows, extra = c.paginate(ctx, query, [u.c.name_key], p)
    return {"Group": group_output(ctx, group), "Users": [user_output(ctx, r) for r in rows], **extra}


@operation("iam", "ListGroups", target=listing("group"))
def list_groups(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    g = t.groups
    query = sa.select(g).where(g.c.account_id == ctx.account_id)
    prefix = c.path_prefix_filter(g.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [g.c.name_key], p)
    return {"Groups": [group_output(ctx, r) for r in rows], **extra}


@operation("iam", "UpdateGroup", target=existing("group", "GroupName"))
def update_group(ctx: OperationContext, p: dict[str, Any]) -> None:
    new_path = c.check_path(p["NewPath"]) if p.get("NewPath") else None
    row = c.get_group(ctx, p["GroupName"])
    values: dict[str, Any] = {}
    new_name = p.get("NewGroupName")
    if new_name and new_name != row.name:
        clash = c.find_named(ctx, t.groups, new_name)
        if clash is not None and clash.id != row.id:
            raise EntityAlreadyExists(f"Group with name {new_name} already exists.")
        values.update(name=new_name, name_key=new_name.lower())
    if new_path is not None:
        values["path"] = new_path
    if values:
        ctx.conn.execute(t.groups.update().where(t.groups.c.id == row.id).values(**values))
    return None


@operation("iam", "DeleteGroup", target=existing("group", "GroupName"))
def delete_group(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_group(ctx, p["GroupName"])
    gid = row.id
    ip, pa, gm = t.inline_policies, t.policy_attachments, t.group_members
    checks: list[tuple[sa.Select[Any], str]] = [
        (sa.select(gm.c.user_id).where(gm.c.group_id == gid), "remove users from group"),
        (sa.select(ip.c.name).where(ip.c.principal_type == "group", ip.c.principal_id == gid), "delete policies"),
        (
            sa.select(pa.c.policy_id).where(pa.c.principal_type == "group", pa.c.principal_id == gid),
            "detach all policies",
        ),
    ]
    for query, what in checks:
        if c.has_rows(ctx, query):
            raise DeleteConflict(f"Cannot delete entity, must {what} first.")
    ctx.conn.execute(t.groups.delete().where(t.groups.c.id == gid))
    return None


@operation("iam", "AddUserToGroup", target=existing("group", "GroupName"))
def add_user_to_group(ctx: OperationContext, p: dict[str, Any]) -> None:
    group = c.get_group(ctx, p["GroupName"])
    user = c.get_user(ctx, p["UserName"])
    gm = t.group_members
    if c.has_rows(ctx, sa.select(gm.c.group_id).where(gm.c.group_id == group.id, gm.c.user_id == user.id)):
        return None  # already a member: AWS succeeds without change
    c.check_quota(
        ctx,
        "groups_per_user",
        c.count(ctx, sa.select(gm.c.group_id).where(gm.c.user_id == user.id)),
        "Cannot exceed quota for GroupsPerUser: {limit}",
    )
    ctx.conn.execute(gm.insert().values(group_id=group.id, user_id=user.id))
    return None


@operation("iam", "RemoveUserFromGroup", target=existing("group", "GroupName"))
def remove_user_from_group(ctx: OperationContext, p: dict[str, Any]) -> None:
    group = c.get_group(ctx, p["GroupName"])
    user = c.get_user(ctx, p["UserName"])
    gm = t.group_members
    # An existing user who is not a member: AWS succeeds without change (as AddUserToGroup does
    # for a member); only a missing user or group is NoSuchEntity.
    ctx.conn.execute(gm.delete().where(gm.c.group_id == group.id, gm.c.user_id == user.id))
    return None


@operation("iam", "ListGroupsForUser", target=existing("user", "UserName"))
def list_groups_for_user(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    user = c.get_user(ctx, p["UserName"])
    g, gm = t.groups, t.group_members
    query = sa.select(g).select_from(g.join(gm, gm.c.group_id == g.c.id)).where(gm.c.user_id == user.id)
    rows, extra = c.paginate(ctx, query, [g.c.name_key], p)
    return {"Groups": [group_output(ctx, r) for r in rows], **extra}
