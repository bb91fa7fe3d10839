"""Instance profiles: a named container for (at most) one role, handed to compute."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.guards import refuse_protected_role
from iamd.services.iam.roles import role_output
from iamd.services.registry import operation
from iamd.services.targets import created, existing, listing, request_tags
from iamd.store import tables as t

RESOURCE = "instance-profile"
"""Resource type of instance profiles in the tags table."""


def roles_of_profiles(ctx: OperationContext, profile_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    """The role rows of each instance profile (one query), ordered by role name."""
    if not profile_ids:
        return {}
    r, ipr = t.roles, t.instance_profile_roles
    rows = ctx.conn.execute(
        sa.select(ipr.c.instance_profile_id, r)
        .select_from(ipr.join(r, r.c.id == ipr.c.role_id))
        .where(ipr.c.instance_profile_id.in_(list(profile_ids)))
        .order_by(r.c.name_key)
    ).all()
    out: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        out[row.instance_profile_id].append(row)
    return out


def profile_output(
    ctx: OperationContext,
    row: Row[Any],
    *,
    with_tags: bool = False,
    roles: Sequence[Row[Any]] | None = None,
) -> dict[str, Any]:
    """The ``InstanceProfile`` shape; ``roles`` (pre-fetched role rows) saves a query per profile."""
    if roles is None:
        roles = roles_of_profiles(ctx, [row.id]).get(row.id, [])
    out: dict[str, Any] = {
        "Path": row.path,
        "InstanceProfileName": row.name,
        "InstanceProfileId": row.id,
        "Arn": c.arn(ctx, "instance-profile", row.path, row.name, row.account_id),
        "CreateDate": row.created_at,
        "Roles": [role_output(ctx, role) for role in roles],
    }
    if with_tags:
        tags = c.get_tags(ctx, RESOURCE, row.id)
        if tags:
            out["Tags"] = tags
    return out


def _page_output(ctx: OperationContext, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    roles = roles_of_profiles(ctx, [row.id for row in rows])
    return [profile_output(ctx, row, roles=roles.get(row.id, [])) for row in rows]


def get_profile(ctx: OperationContext, name: str) -> Row[Any]:
    return c.get_named(ctx, t.instance_profiles, name)


@operation(
    "iam",
    "CreateInstanceProfile",
    target=created("instance-profile", "InstanceProfileName"),
    request_keys=(request_tags,),
)
def create_instance_profile(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    path = c.check_path(p.get("Path"))
    name: str = p["InstanceProfileName"]
    ip = t.instance_profiles
    if c.find_named(ctx, ip, name) is not None:
        raise EntityAlreadyExists(f"Instance Profile {name} already exists.")
    c.check_quota(
        ctx,
        "instance_profiles",
        c.count(ctx, sa.select(ip.c.id).where(ip.c.account_id == ctx.account_id)),
        "Cannot exceed quota for InstanceProfilesPerAccount: {limit}",
    )
    profile_id = ids.unique_id(ids.INSTANCE_PROFILE_PREFIX)
    ctx.conn.execute(
        ip.insert().values(
            id=profile_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            created_at=ctx.now(),
        )
    )
    c.put_tags(ctx, RESOURCE, profile_id, p.get("Tags") or [])
    row = ctx.conn.execute(sa.select(ip).where(ip.c.id == profile_id)).one()
    return {"InstanceProfile": profile_output(ctx, row, with_tags=True, roles=[])}


@operation("iam", "GetInstanceProfile", target=existing("instance-profile", "InstanceProfileName"))
def get_instance_profile(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"InstanceProfile": profile_output(ctx, get_profile(ctx, p["InstanceProfileName"]), with_tags=True)}


@operation("iam", "ListInstanceProfiles", target=listing("instance-profile"))
def list_instance_profiles(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    ip = t.instance_profiles
    query = sa.select(ip).where(ip.c.account_id == ctx.account_id)
    prefix = c.path_prefix_filter(ip.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [ip.c.name_key], p)
    return {"InstanceProfiles": _page_output(ctx, rows), **extra}


@operation("iam", "ListInstanceProfilesForRole", target=existing("role", "RoleName"))
def list_instance_profiles_for_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    role = c.get_role(ctx, p["RoleName"])
    ip, ipr = t.instance_profiles, t.instance_profile_roles
    query = (
        sa.select(ip)
        .select_from(ip.join(ipr, ipr.c.instance_profile_id == ip.c.id))
        .where(ipr.c.role_id == role.id, ip.c.account_id == ctx.account_id)
    )
    rows, extra = c.paginate(ctx, query, [ip.c.name_key], p)
    return {"InstanceProfiles": _page_output(ctx, rows), **extra}


@operation("iam", "DeleteInstanceProfile", target=existing("instance-profile", "InstanceProfileName"))
def delete_instance_profile(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = get_profile(ctx, p["InstanceProfileName"])
    ipr = t.instance_profile_roles
    if c.has_rows(ctx, sa.select(ipr.c.role_id).where(ipr.c.instance_profile_id == row.id)):
        raise DeleteConflict("Cannot delete entity, must remove roles from instance profile first.")
    c.delete_all_tags(ctx, RESOURCE, row.id)
    ctx.conn.execute(t.instance_profiles.delete().where(t.instance_profiles.c.id == row.id))
    return None


@operation("iam", "AddRoleToInstanceProfile", target=existing("instance-profile", "InstanceProfileName"))
def add_role_to_instance_profile(ctx: OperationContext, p: dict[str, Any]) -> None:
    profile = get_profile(ctx, p["InstanceProfileName"])
    role = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(role)
    ipr = t.instance_profile_roles
    current = [
        r.role_id
        for r in ctx.conn.execute(sa.select(ipr.c.role_id).where(ipr.c.instance_profile_id == profile.id)).all()
    ]
    if role.id in current:
        raise EntityAlreadyExists(f"Role {role.name} already exists in instance profile {profile.name}.")
    limit = ctx.quotas.roles_per_instance_profile
    if len(current) >= limit:
        raise LimitExceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {limit}")
    ctx.conn.execute(ipr.insert().values(instance_profile_id=profile.id, role_id=role.id))
    return None


@operation("iam", "RemoveRoleFromInstanceProfile", target=existing("instance-profile", "InstanceProfileName"))
def remove_role_from_instance_profile(ctx: OperationContext, p: dict[str, Any]) -> None:
    profile = get_profile(ctx, p["InstanceProfileName"])
    role = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(role)
    ipr = t.instance_profile_roles
    result = ctx.conn.execute(ipr.delete().where(ipr.c.instance_profile_id == profile.id, ipr.c.role_id == role.id))
    if result.rowcount == 0:
        raise NoSuchEntity(f"Role {role.name} in Instance Profile {profile.name} cannot be found.")
    return None
