"""Managed policy attachments to users, groups and roles; ListEntitiesForPolicy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from iamd.core.errors import InvalidInput, LimitExceeded, NoSuchEntity, PolicyNotAttachable
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam import policies
from iamd.services.iam.guards import refuse_protected_role
from iamd.services.registry import operation
from iamd.services.targets import arn_param, existing, policy_arn
from iamd.store import tables as t


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    """principal_type in the store: user | group | role."""
    table: sa.Table
    param: str
    """The request member naming the entity (UserName, GroupName, RoleName)."""
    quota_name: str
    """AWS's quota name in LimitExceeded messages."""


USER = Kind("user", t.users, "UserName", "PoliciesPerUser")
GROUP = Kind("group", t.groups, "GroupName", "PoliciesPerGroup")
ROLE = Kind("role", t.roles, "RoleName", "PoliciesPerRole")


def get_principal(ctx: OperationContext, kind: Kind, name: str, *, for_change: bool = False) -> Row[Any]:
    """The named user, group or role; for changes, locked and refused for protected roles."""
    row = c.get_named(ctx, kind.table, name)
    if for_change:
        if kind is ROLE:
            refuse_protected_role(row)
        # Serialize concurrent changes to one entity's policies (quota checks stay exact).
        ctx.conn.execute(sa.select(kind.table.c.id).where(kind.table.c.id == row.id).with_for_update())
    return row


def _insert_ignore(ctx: OperationContext, table: sa.Table, values: dict[str, Any]) -> None:
    name = ctx.conn.dialect.name
    if name == "postgresql":
        ctx.conn.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
    elif name == "sqlite":
        ctx.conn.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        ctx.conn.execute(table.insert().values(**values))


# --- attach / detach ---------------------------------------------------------------------------------


def attach(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> None:
    entity = get_principal(ctx, kind, p[kind.param], for_change=True)
    policy = c.get_policy(ctx, p["PolicyArn"])
    if not policy.is_attachable:
        raise PolicyNotAttachable(f"Policy {policy.arn} is not attachable.")
    pa = t.policy_attachments
    mine = (pa.c.principal_type == kind.name, pa.c.principal_id == entity.id)
    if c.has_rows(ctx, sa.select(pa.c.policy_id).where(*mine, pa.c.policy_id == policy.id)):
        return  # attaching twice changes nothing
    current = c.count(ctx, sa.select(pa.c.policy_id).where(*mine))
    limit = ctx.quotas.attached_policies
    if current >= limit:
        raise LimitExceeded(f"Cannot exceed quota for {kind.quota_name}: {limit}")
    _insert_ignore(ctx, pa, {"policy_id": policy.id, "principal_type": kind.name, "principal_id": entity.id})


def detach(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> None:
    entity = get_principal(ctx, kind, p[kind.param], for_change=True)
    policy_arn: str = p["PolicyArn"]
    policy = c.find_policy(ctx, policy_arn)
    pa = t.policy_attachments
    if policy is not None:
        result = ctx.conn.execute(
            pa.delete().where(
                pa.c.policy_id == policy.id, pa.c.principal_type == kind.name, pa.c.principal_id == entity.id
            )
        )
        if result.rowcount:
            return
    raise NoSuchEntity(f"Policy {policy_arn} was not found.")


def list_attached(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> dict[str, Any]:
    entity = get_principal(ctx, kind, p[kind.param])
    pa, mp = t.policy_attachments, t.managed_policies
    query = (
        sa.select(mp.c.name, mp.c.arn, mp.c.name_key, mp.c.id)
        .select_from(pa.join(mp, mp.c.id == pa.c.policy_id))
        .where(pa.c.principal_type == kind.name, pa.c.principal_id == entity.id)
    )
    prefix = c.path_prefix_filter(mp.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [mp.c.name_key, mp.c.id], p)
    return {"AttachedPolicies": [{"PolicyName": r.name, "PolicyArn": r.arn} for r in rows], **extra}


@operation("iam", "AttachUserPolicy", target=existing("user", "UserName"), request_keys=(policy_arn,))
def attach_user_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    attach(ctx, USER, p)
    return None


@operation("iam", "AttachGroupPolicy", target=existing("group", "GroupName"), request_keys=(policy_arn,))
def attach_group_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    attach(ctx, GROUP, p)
    return None


@operation("iam", "AttachRolePolicy", target=existing("role", "RoleName"), request_keys=(policy_arn,))
def attach_role_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    attach(ctx, ROLE, p)
    return None


@operation("iam", "DetachUserPolicy", target=existing("user", "UserName"), request_keys=(policy_arn,))
def detach_user_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    detach(ctx, USER, p)
    return None


@operation("iam", "DetachGroupPolicy", target=existing("group", "GroupName"), request_keys=(policy_arn,))
def detach_group_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    detach(ctx, GROUP, p)
    return None


@operation("iam", "DetachRolePolicy", target=existing("role", "RoleName"), request_keys=(policy_arn,))
def detach_role_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    detach(ctx, ROLE, p)
    return None


@operation("iam", "ListAttachedUserPolicies", target=existing("user", "UserName"))
def list_attached_user_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return list_attached(ctx, USER, p)


@operation("iam", "ListAttachedGroupPolicies", target=existing("group", "GroupName"))
def list_attached_group_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return list_attached(ctx, GROUP, p)


@operation("iam", "ListAttachedRolePolicies", target=existing("role", "RoleName"))
def list_attached_role_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return list_attached(ctx, ROLE, p)


# --- ListEntitiesForPolicy ------------------------------------------------------------------------------

# (EntityFilter value, store kind, entity table, output list, output name member, output id member)
_SECTIONS = (
    ("Group", "group", t.groups, "PolicyGroups", "GroupName", "GroupId"),
    ("User", "user", t.users, "PolicyUsers", "UserName", "UserId"),
    ("Role", "role", t.roles, "PolicyRoles", "RoleName", "RoleId"),
)


@operation("iam", "ListEntitiesForPolicy", target=arn_param("PolicyArn"))
def list_entities_for_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policy = policies.get_any(ctx, p["PolicyArn"])
    entity_filter = p.get("EntityFilter")
    usage = p.get("PolicyUsageFilter")
    pa = t.policy_attachments
    sections: list[tuple[str, sa.Select[Any], sa.Table, str, str, str]] = []
    for filter_name, kind, table, out_key, name_key, id_key in _SECTIONS:
        if entity_filter and entity_filter != filter_name:
            continue
        attached = table.c.id.in_(
            sa.select(pa.c.principal_id).where(pa.c.policy_id == policy.id, pa.c.principal_type == kind)
        )
        bounded = table.c.permissions_boundary == policy.arn if "permissions_boundary" in table.c else None
        if usage == "PermissionsPolicy":
            condition: sa.ColumnElement[bool] | None = attached
        elif usage == "PermissionsBoundary":
            condition = bounded
        else:
            condition = attached if bounded is None else sa.or_(attached, bounded)
        if condition is None:
            continue
        query: sa.Select[Any] = sa.select(table.c.id, table.c.name, table.c.name_key).where(
            table.c.account_id == ctx.account_id, condition
        )
        prefix = c.path_prefix_filter(table.c.path, p)
        if prefix is not None:
            query = query.where(prefix)
        sections.append((filter_name, query, table, out_key, name_key, id_key))

    out: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
    names = [s[0] for s in sections]
    start, after = 0, None
    if p.get("Marker"):
        section_name, key = c.decode_marker(str(p["Marker"]), 2)
        if section_name not in names or not isinstance(key, str):
            raise InvalidInput("Invalid Marker.")
        start, after = names.index(section_name), key
    remaining = int(p.get("MaxItems") or c.DEFAULT_MAX_ITEMS)
    truncated, marker = False, None
    for index in range(start, len(sections)):
        section_name, section_query, table, out_key, name_member, id_member = sections[index]
        if index == start and after is not None:
            section_query = section_query.where(table.c.name_key > after)
        if remaining == 0:
            if c.has_rows(ctx, section_query):
                truncated = True
                break
            continue
        rows = list(ctx.conn.execute(section_query.order_by(table.c.name_key).limit(remaining + 1)).all())
        page = rows[:remaining]
        out[out_key] = [{name_member: r.name, id_member: r.id} for r in page]
        remaining -= len(page)
        if page:
            marker = c.encode_marker(section_name, page[-1].name_key)
        if len(rows) > len(page):
            truncated = True
            break
    out["IsTruncated"] = truncated
    if truncated and marker is not None:
        out["Marker"] = marker
    return out
