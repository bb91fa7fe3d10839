"""IAM roles: trust policy, session duration, description, boundary, tags, last used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    NoSuchEntity,
    UnmodifiableEntity,
    ValidationError,
)
from iamd.policy.document import PolicyKind, check_document
from iamd.services.context import RequestContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.store import tables as t

RESOURCE = "role"
MIN_SESSION = 3600
MAX_SESSION = 43200


def is_service_linked(row: Row[Any]) -> bool:
    return bool(row.service_linked)


def refuse_if_service_linked(row: Row[Any]) -> None:
    if is_service_linked(row):
        raise UnmodifiableEntity(
            f"Cannot perform the operation on the protected role '{row.name}' - this role is only modifiable by AWS"
        )


def role_output(
    ctx: RequestContext, row: Row[Any], *, with_tags: bool = False, with_last_used: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": row.path,
        "RoleName": row.name,
        "RoleId": row.id,
        "Arn": c.arn(ctx, "role", row.path, row.name, row.account_id),
        "CreateDate": row.created_at,
        "AssumeRolePolicyDocument": row.trust_policy,
        "MaxSessionDuration": row.max_session_duration,
    }
    if row.description is not None:
        out["Description"] = row.description
    boundary = c.boundary_output(row.permissions_boundary)
    if boundary and with_tags:
        out["PermissionsBoundary"] = boundary
    if with_tags:
        tags = c.get_tags(ctx, RESOURCE, row.id)
        if tags:
            out["Tags"] = tags
    if with_last_used:
        last: dict[str, Any] = {}
        if row.last_used_at is not None:
            last["LastUsedDate"] = row.last_used_at
        if row.last_used_region:
            last["Region"] = row.last_used_region
        out["RoleLastUsed"] = last
    return out


def _check_duration(value: Any) -> int:
    if value is None:
        return MIN_SESSION
    duration = int(value)
    if not MIN_SESSION <= duration <= MAX_SESSION:
        bound = "greater than or equal to 3600" if duration < MIN_SESSION else "less than or equal to 43200"
        raise ValidationError(
            f"1 validation error detected: Value '{duration}' at 'maxSessionDuration' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return duration


def insert_role(
    ctx: RequestContext,
    *,
    name: str,
    path: str,
    trust_policy: str,
    description: str | None = None,
    max_session_duration: int = MIN_SESSION,
    boundary: str | None = None,
    tags: list[Mapping[str, str]] | None = None,
    service_linked: bool = False,
) -> Row[Any]:
    if c.find_named(ctx, t.roles, name) is not None:
        raise EntityAlreadyExists(f"Role with name {name} already exists.")
    c.check_quota(
        ctx,
        "roles",
        c.count(ctx, sa.select(t.roles.c.id).where(t.roles.c.account_id == ctx.account_id)),
        "Cannot exceed quota for RolesPerAccount: {limit}",
    )
    role_id = ids.unique_id(ids.ROLE_PREFIX)
    ctx.conn.execute(
        t.roles.insert().values(
            id=role_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            created_at=ctx.now(),
            trust_policy=trust_policy,
            description=description,
            max_session_duration=max_session_duration,
            permissions_boundary=boundary,
            service_linked=service_linked,
        )
    )
    c.put_tags(ctx, RESOURCE, role_id, tags or [])
    return ctx.conn.execute(sa.select(t.roles).where(t.roles.c.id == role_id)).one()


@operation("iam", "CreateRole")
def create_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    name: str = p["RoleName"]
    check_document(p["AssumeRolePolicyDocument"], PolicyKind.TRUST, name)
    boundary = p.get("PermissionsBoundary")
    if boundary:
        c.check_boundary(ctx, boundary)
    row = insert_role(
        ctx,
        name=name,
        path=p.get("Path") or "/",
        trust_policy=p["AssumeRolePolicyDocument"],
        description=p.get("Description"),
        max_session_duration=_check_duration(p.get("MaxSessionDuration")),
        boundary=boundary,
        tags=p.get("Tags") or [],
    )
    return {"Role": role_output(ctx, row, with_tags=True)}


@operation("iam", "GetRole")
def get_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    return {"Role": role_output(ctx, row, with_tags=True, with_last_used=True)}


@operation("iam", "ListRoles")
def list_roles(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    r = t.roles
    query = sa.select(r).where(r.c.account_id == ctx.account_id)
    prefix = c.path_prefix_filter(r.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [r.c.name_key], p)
    return {"Roles": [role_output(ctx, row) for row in rows], **extra}


@operation("iam", "UpdateRole")
def update_role(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    refuse_if_service_linked(row)
    values: dict[str, Any] = {}
    if p.get("Description") is not None:
        values["description"] = p["Description"]
    if p.get("MaxSessionDuration") is not None:
        values["max_session_duration"] = _check_duration(p["MaxSessionDuration"])
    if values:
        ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(**values))
    return {}


@operation("iam", "UpdateRoleDescription")
def update_role_description(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    refuse_if_service_linked(row)
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(description=p["Description"]))
    fresh = ctx.conn.execute(sa.select(t.roles).where(t.roles.c.id == row.id)).one()
    return {"Role": role_output(ctx, fresh, with_tags=True)}


def delete_role_row(ctx: RequestContext, row: Row[Any]) -> None:
    c.delete_principal_policies(ctx, "role", row.id)
    c.delete_all_tags(ctx, RESOURCE, row.id)
    ctx.conn.execute(t.instance_profile_roles.delete().where(t.instance_profile_roles.c.role_id == row.id))
    ctx.conn.execute(t.roles.delete().where(t.roles.c.id == row.id))


@operation("iam", "DeleteRole")
def delete_role(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_if_service_linked(row)
    rid = row.id
    ip, pa, ipr = t.inline_policies, t.policy_attachments, t.instance_profile_roles
    if c.has_rows(ctx, sa.select(ipr.c.role_id).where(ipr.c.role_id == rid)):
        raise DeleteConflict("Cannot delete entity, must remove roles from instance profile first.")
    if c.has_rows(ctx, sa.select(ip.c.name).where(ip.c.principal_type == "role", ip.c.principal_id == rid)):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    if c.has_rows(ctx, sa.select(pa.c.policy_id).where(pa.c.principal_type == "role", pa.c.principal_id == rid)):
        raise DeleteConflict("Cannot delete entity, must detach all policies first.")
    delete_role_row(ctx, row)
    return None


@operation("iam", "UpdateAssumeRolePolicy")
def update_assume_role_policy(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_if_service_linked(row)
    check_document(p["PolicyDocument"], PolicyKind.TRUST, row.name)
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(trust_policy=p["PolicyDocument"]))
    return None


@operation("iam", "TagRole")
def tag_role(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    c.put_tags(ctx, RESOURCE, row.id, p["Tags"])
    return None


@operation("iam", "UntagRole")
def untag_role(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    c.remove_tags(ctx, RESOURCE, row.id, p["TagKeys"])
    return None


@operation("iam", "ListRoleTags")
def list_role_tags(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    return c.list_tags_page(ctx, RESOURCE, row.id, p)


@operation("iam", "PutRolePermissionsBoundary")
def put_role_permissions_boundary(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_if_service_linked(row)
    c.check_boundary(ctx, p["PermissionsBoundary"])
    ctx.conn.execute(
        t.roles.update().where(t.roles.c.id == row.id).values(permissions_boundary=p["PermissionsBoundary"])
    )
    return None


@operation("iam", "DeleteRolePermissionsBoundary")
def delete_role_permissions_boundary(ctx: RequestContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_if_service_linked(row)
    if not row.permissions_boundary:
        raise NoSuchEntity(f"The role with name {row.name} does not have a permissions boundary.")
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(permissions_boundary=None))
    return None
