"""IAM roles: trust policy, session duration, description, boundary, tags, last used.

Service-linked roles (``service_linked``) are created and deleted by
``iamd.services.iam.service_linked_roles``.  They and the roles under ``/aws-reserved/`` are
protected by ``iamd.services.iam.guards``: readable and taggable, a service-linked role's
description editable (as in AWS), every other change refused with ``UnmodifiableEntity``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import DeleteConflict, EntityAlreadyExists, NoSuchEntity, ValidationError
from iamd.policy.document import PolicyKind, check_document
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.guards import refuse_protected_role
from iamd.services.registry import operation
from iamd.services.targets import created, existing, listing, permissions_boundary, request_tags
from iamd.store import tables as t

__all__ = [
    "DEFAULT_SESSION",
    "MAX_SESSION",
    "MIN_SESSION",
    "RESOURCE",
    "check_max_session_duration",
    "delete_role_row",
    "insert_role",
    "role_output",
]

RESOURCE = "role"
"""Resource type of roles in the tags table."""
MIN_SESSION = 3600
MAX_SESSION = 43200
DEFAULT_SESSION = 3600


# --- output -----------------------------------------------------------------------------------


def role_output(
    ctx: OperationContext,
    row: Row[Any],
    *,
    with_tags: bool = False,
    with_last_used: bool = False,
    with_boundary: bool | None = None,
) -> dict[str, Any]:
    """The ``Role`` shape of a ``roles`` row.

    The list form (``with_tags=False``: ListRoles, instance profiles' ``Roles``) omits
    PermissionsBoundary, RoleLastUsed and Tags, as AWS's listing operations do.  The full form
    (GetRole) passes ``with_tags=True, with_last_used=True``.  ``with_boundary`` defaults to
    ``with_tags``.
    """
    out: dict[str, Any] = {
        "Path": row.path,
        "RoleName": row.name,
        "RoleId": row.id,
        "Arn": c.arn(ctx, "role", row.path, row.name, row.account_id),
        "CreateDate": row.created_at,
        "AssumeRolePolicyDocument": row.trust_policy,
        "MaxSessionDuration": row.max_session_duration,
    }
    if row.description:
        out["Description"] = row.description
    if with_tags if with_boundary is None else with_boundary:
        boundary = c.boundary_output(row.permissions_boundary)
        if boundary:
            out["PermissionsBoundary"] = boundary
    if with_tags:
        tags = c.get_tags(ctx, RESOURCE, row.id)
        if tags:
            out["Tags"] = tags
    if with_last_used:
        # AWS always answers GetRole with a RoleLastUsed element, empty for a role never used.
        last: dict[str, Any] = {}
        if row.last_used_at is not None:
            last["LastUsedDate"] = row.last_used_at
        if row.last_used_region:
            last["Region"] = row.last_used_region
        out["RoleLastUsed"] = last
    return out


# --- helpers shared with service-linked roles ---------------------------------------------------


def check_max_session_duration(value: Any) -> int:
    """3600..43200 seconds (the model's range; re-checked for callers that bypass the protocol)."""
    if value is None:
        return DEFAULT_SESSION
    duration = int(value)
    if duration < MIN_SESSION:
        constraint = f"Member must have value greater than or equal to {MIN_SESSION}"
    elif duration > MAX_SESSION:
        constraint = f"Member must have value less than or equal to {MAX_SESSION}"
    else:
        return duration
    raise ValidationError(
        f"1 validation error detected: Value '{duration}' at 'maxSessionDuration' failed to satisfy constraint: "
        f"{constraint}"
    )


def _fetch(ctx: OperationContext, role_id: str) -> Row[Any]:
    return ctx.conn.execute(sa.select(t.roles).where(t.roles.c.id == role_id)).one()


def insert_role(
    ctx: OperationContext,
    *,
    name: str,
    path: str,
    trust_policy: str,
    description: str | None = None,
    max_session_duration: int = DEFAULT_SESSION,
    boundary: str | None = None,
    tags: Sequence[Mapping[str, str]] = (),
    service_linked: bool = False,
) -> Row[Any]:
    """Insert a role after the name and quota checks; returns the new row."""
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
            description=description or None,
            max_session_duration=max_session_duration,
            permissions_boundary=boundary,
            service_linked=service_linked,
        )
    )
    c.put_tags(ctx, RESOURCE, role_id, tags)
    return _fetch(ctx, role_id)


def delete_role_row(ctx: OperationContext, row: Row[Any]) -> None:
    """Delete a role and everything hanging off it (policies, tags, instance-profile membership)."""
    c.delete_principal_policies(ctx, "role", row.id)
    c.delete_all_tags(ctx, RESOURCE, row.id)
    ipr = t.instance_profile_roles
    ctx.conn.execute(ipr.delete().where(ipr.c.role_id == row.id))
    ctx.conn.execute(t.roles.delete().where(t.roles.c.id == row.id))


# --- operations ---------------------------------------------------------------------------------


@operation(
    "iam",
    "CreateRole",
    target=created("role", "RoleName"),
    request_keys=(request_tags, permissions_boundary),
)
def create_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    path = c.check_path(p.get("Path"))
    name: str = p["RoleName"]
    document: str = p["AssumeRolePolicyDocument"]
    check_document(document, PolicyKind.TRUST, name)
    duration = check_max_session_duration(p.get("MaxSessionDuration"))
    boundary = p.get("PermissionsBoundary")
    if boundary:
        c.check_boundary(ctx, boundary)
    row = insert_role(
        ctx,
        name=name,
        path=path,
        trust_policy=document,
        description=p.get("Description"),
        max_session_duration=duration,
        boundary=boundary or None,
        tags=p.get("Tags") or [],
    )
    return {"Role": role_output(ctx, row, with_tags=True)}


@operation("iam", "GetRole", target=existing("role", "RoleName"))
def get_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    return {"Role": role_output(ctx, row, with_tags=True, with_last_used=True)}


@operation("iam", "ListRoles", target=listing("role"))
def list_roles(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    r = t.roles
    query = sa.select(r).where(r.c.account_id == ctx.account_id)
    prefix = c.path_prefix_filter(r.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [r.c.name_key], p)
    return {"Roles": [role_output(ctx, row) for row in rows], **extra}


@operation("iam", "UpdateRole", target=existing("role", "RoleName"))
def update_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    values: dict[str, Any] = {}
    # AWS lets anyone edit a service-linked role's description, nothing else.
    refuse_protected_role(row, description_only=p.get("MaxSessionDuration") is None)
    if p.get("MaxSessionDuration") is not None:
        values["max_session_duration"] = check_max_session_duration(p["MaxSessionDuration"])
    if p.get("Description") is not None:
        values["description"] = p["Description"] or None
    if values:
        ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(**values))
    return {}


@operation("iam", "UpdateRoleDescription", target=existing("role", "RoleName"))
def update_role_description(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(row, description_only=True)
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(description=p["Description"] or None))
    return {"Role": role_output(ctx, _fetch(ctx, row.id), with_tags=True, with_last_used=True)}


@operation("iam", "DeleteRole", target=existing("role", "RoleName"))
def delete_role(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(row)
    rid = row.id
    ip, pa, ipr = t.inline_policies, t.policy_attachments, t.instance_profile_roles
    checks: list[tuple[sa.Select[Any], str]] = [
        (sa.select(ipr.c.role_id).where(ipr.c.role_id == rid), "remove roles from instance profile"),
        (sa.select(ip.c.name).where(ip.c.principal_type == "role", ip.c.principal_id == rid), "delete policies"),
        (
            sa.select(pa.c.policy_id).where(pa.c.principal_type == "role", pa.c.principal_id == rid),
            "detach all policies",
        ),
    ]
    for query, what in checks:
        if c.has_rows(ctx, query):
            raise DeleteConflict(f"Cannot delete entity, must {what} first.")
    delete_role_row(ctx, row)
    return None


@operation("iam", "UpdateAssumeRolePolicy", target=existing("role", "RoleName"))
def update_assume_role_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(row)
    document: str = p["PolicyDocument"]
    check_document(document, PolicyKind.TRUST, row.name)
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(trust_policy=document))
    return None


@operation(
    "iam", "PutRolePermissionsBoundary", target=existing("role", "RoleName"), request_keys=(permissions_boundary,)
)
def put_role_permissions_boundary(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(row)
    boundary: str = p["PermissionsBoundary"]
    c.check_boundary(ctx, boundary)
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(permissions_boundary=boundary))
    return None


@operation("iam", "DeleteRolePermissionsBoundary", target=existing("role", "RoleName"))
def delete_role_permissions_boundary(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = c.get_role(ctx, p["RoleName"])
    refuse_protected_role(row)
    if not row.permissions_boundary:
        raise NoSuchEntity(f"The role with name {row.name} does not have a permissions boundary.")
    ctx.conn.execute(t.roles.update().where(t.roles.c.id == row.id).values(permissions_boundary=None))
    return None
