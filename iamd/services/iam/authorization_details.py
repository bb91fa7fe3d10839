"""GetAccountAuthorizationDetails: every user, group, role and managed policy with its policies.

The result is paginated across its four lists as one sequence (users, then groups, then roles,
then policies); the marker names the section and the last key returned in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core.errors import InvalidInput
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.account import principal_ids_clause
from iamd.services.registry import operation
from iamd.services.targets import any_resource
from iamd.store import tables as t

ALL_FILTERS = frozenset({"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"})


@dataclass(frozen=True)
class Section:
    name: str
    output_key: str
    query: sa.Select[Any]
    order: Sequence[sa.ColumnElement[Any]]
    render: Callable[[OperationContext, list[Row[Any]]], list[dict[str, Any]]]


# --- bulk loaders (one query per page, never one per entity) ------------------------------------------


def _inline_policies(ctx: OperationContext, kind: str, ids: list[str]) -> dict[str, list[dict[str, str]]]:
    ip = t.inline_policies
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    if not ids:
        return out
    rows = ctx.conn.execute(
        sa.select(ip.c.principal_id, ip.c.name, ip.c.document)
        .where(ip.c.principal_type == kind, ip.c.principal_id.in_(ids))
        .order_by(ip.c.principal_id, ip.c.name_key)
    )
    for r in rows:
        out[r.principal_id].append({"PolicyName": r.name, "PolicyDocument": r.document})
    return out


def _attached(ctx: OperationContext, kind: str, ids: list[str]) -> dict[str, list[dict[str, str]]]:
    pa, mp = t.policy_attachments, t.managed_policies
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    if not ids:
        return out
    rows = ctx.conn.execute(
        sa.select(pa.c.principal_id, mp.c.name, mp.c.arn)
        .select_from(pa.join(mp, mp.c.id == pa.c.policy_id))
        .where(pa.c.principal_type == kind, pa.c.principal_id.in_(ids))
        .order_by(pa.c.principal_id, mp.c.name_key, mp.c.arn)
    )
    for r in rows:
        out[r.principal_id].append({"PolicyName": r.name, "PolicyArn": r.arn})
    return out


def _tags(ctx: OperationContext, resource_type: str, ids: list[str]) -> dict[str, list[dict[str, str]]]:
    tt = t.tags
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    if not ids:
        return out
    rows = ctx.conn.execute(
        sa.select(tt.c.resource_id, tt.c.key, tt.c.value).where(
            tt.c.resource_type == resource_type, tt.c.resource_id.in_(ids)
        )
    )
    # plain key order, as every other tag listing (sorted here: the engines' collations differ)
    for r in sorted(rows, key=lambda r: r.key):
        out[r.resource_id].append({"Key": r.key, "Value": r.value})
    return out


# --- sections ------------------------------------------------------------------------------------------


def _render_users(ctx: OperationContext, rows: list[Row[Any]]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    inline = _inline_policies(ctx, "user", ids)
    attached = _attached(ctx, "user", ids)
    tags = _tags(ctx, "user", ids)
    groups: dict[str, list[str]] = defaultdict(list)
    if ids:
        gm, g = t.group_members, t.groups
        for m in ctx.conn.execute(
            sa.select(gm.c.user_id, g.c.name)
            .select_from(gm.join(g, g.c.id == gm.c.group_id))
            .where(gm.c.user_id.in_(ids))
            .order_by(gm.c.user_id, g.c.name_key)
        ):
            groups[m.user_id].append(m.name)
    out: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {
            "Path": r.path,
            "UserName": r.name,
            "UserId": r.id,
            "Arn": c.arn(ctx, "user", r.path, r.name, r.account_id),
            "CreateDate": r.created_at,
            "UserPolicyList": inline[r.id],
            "GroupList": groups[r.id],
            "AttachedManagedPolicies": attached[r.id],
        }
        boundary = c.boundary_output(r.permissions_boundary)
        if boundary:
            item["PermissionsBoundary"] = boundary
        if tags[r.id]:
            item["Tags"] = tags[r.id]
        out.append(item)
    return out


def _render_groups(ctx: OperationContext, rows: list[Row[Any]]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    inline = _inline_policies(ctx, "group", ids)
    attached = _attached(ctx, "group", ids)
    return [
        {
            "Path": r.path,
            "GroupName": r.name,
            "GroupId": r.id,
            "Arn": c.arn(ctx, "group", r.path, r.name, r.account_id),
            "CreateDate": r.created_at,
            "GroupPolicyList": inline[r.id],
            "AttachedManagedPolicies": attached[r.id],
        }
        for r in rows
    ]


def _role_last_used(r: Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.last_used_at is not None:
        out["LastUsedDate"] = r.last_used_at
        if r.last_used_region:
            out["Region"] = r.last_used_region
    return out


def _role_output(ctx: OperationContext, r: Row[Any]) -> dict[str, Any]:
    """A role as AWS nests it inside an instance profile."""
    out: dict[str, Any] = {
        "Path": r.path,
        "RoleName": r.name,
        "RoleId": r.id,
        "Arn": c.arn(ctx, "role", r.path, r.name, r.account_id),
        "CreateDate": r.created_at,
        "AssumeRolePolicyDocument": r.trust_policy,
    }
    if r.description:
        out["Description"] = r.description
    out["MaxSessionDuration"] = r.max_session_duration
    return out


def _instance_profiles(ctx: OperationContext, role_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not role_ids:
        return out
    ip, ipr, ro = t.instance_profiles, t.instance_profile_roles, t.roles
    profiles = ctx.conn.execute(
        sa.select(ip, ipr.c.role_id.label("member_role_id"))
        .select_from(ip.join(ipr, ipr.c.instance_profile_id == ip.c.id))
        .where(ipr.c.role_id.in_(role_ids))
        .order_by(ip.c.name_key)
    ).all()
    profile_ids = list({p.id for p in profiles})
    roles_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if profile_ids:
        for r in ctx.conn.execute(
            sa.select(ro, ipr.c.instance_profile_id)
            .select_from(ro.join(ipr, ipr.c.role_id == ro.c.id))
            .where(ipr.c.instance_profile_id.in_(profile_ids))
            .order_by(ro.c.name_key)
        ):
            roles_of[r.instance_profile_id].append(_role_output(ctx, r))
    tags = _tags(ctx, "instance-profile", profile_ids)
    for p in profiles:
        item: dict[str, Any] = {
            "Path": p.path,
            "InstanceProfileName": p.name,
            "InstanceProfileId": p.id,
            "Arn": c.arn(ctx, "instance-profile", p.path, p.name, p.account_id),
            "CreateDate": p.created_at,
            "Roles": roles_of[p.id],
        }
        if tags[p.id]:
            item["Tags"] = tags[p.id]
        out[p.member_role_id].append(item)
    return out


def _render_roles(ctx: OperationContext, rows: list[Row[Any]]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    inline = _inline_policies(ctx, "role", ids)
    attached = _attached(ctx, "role", ids)
    tags = _tags(ctx, "role", ids)
    profiles = _instance_profiles(ctx, ids)
    out: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {
            "Path": r.path,
            "RoleName": r.name,
            "RoleId": r.id,
            "Arn": c.arn(ctx, "role", r.path, r.name, r.account_id),
            "CreateDate": r.created_at,
            "AssumeRolePolicyDocument": r.trust_policy,
            "InstanceProfileList": profiles[r.id],
            "RolePolicyList": inline[r.id],
            "AttachedManagedPolicies": attached[r.id],
        }
        boundary = c.boundary_output(r.permissions_boundary)
        if boundary:
            item["PermissionsBoundary"] = boundary
        if tags[r.id]:
            item["Tags"] = tags[r.id]
        item["RoleLastUsed"] = _role_last_used(r)
        out.append(item)
    return out


def _attachment_count(ctx: OperationContext) -> sa.ScalarSelect[Any]:
    pa = t.policy_attachments.alias("pa_count")
    return (
        sa.select(sa.func.count())
        .select_from(pa)
        .where(
            pa.c.policy_id == t.managed_policies.c.id,
            principal_ids_clause(ctx, pa.c.principal_type, pa.c.principal_id),
        )
        .scalar_subquery()
    )


def _boundary_count(ctx: OperationContext) -> sa.ColumnElement[Any]:
    arn = t.managed_policies.c.arn
    users = (
        sa.select(sa.func.count())
        .select_from(t.users)
        .where(t.users.c.account_id == ctx.account_id, t.users.c.permissions_boundary == arn)
        .scalar_subquery()
    )
    roles = (
        sa.select(sa.func.count())
        .select_from(t.roles)
        .where(t.roles.c.account_id == ctx.account_id, t.roles.c.permissions_boundary == arn)
        .scalar_subquery()
    )
    return users + roles


def _render_policies(ctx: OperationContext, rows: list[Row[Any]]) -> list[dict[str, Any]]:
    pv = t.policy_versions
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ids = [r.id for r in rows]
    defaults = {r.id: r.default_version for r in rows}
    if ids:
        for v in ctx.conn.execute(
            sa.select(pv).where(pv.c.policy_id.in_(ids)).order_by(pv.c.policy_id, pv.c.version_number.desc())
        ):
            versions[v.policy_id].append(
                {
                    "Document": v.document,
                    "VersionId": v.version_id,
                    "IsDefaultVersion": v.version_id == defaults[v.policy_id],
                    "CreateDate": v.created_at,
                }
            )
    out: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {
            "PolicyName": r.name,
            "PolicyId": r.id,
            "Arn": r.arn,
            "Path": r.path,
            "DefaultVersionId": r.default_version,
            "AttachmentCount": int(r.attachment_count or 0),
            "PermissionsBoundaryUsageCount": int(r.boundary_count or 0),
            "IsAttachable": bool(r.is_attachable),
        }
        if r.description:
            item["Description"] = r.description
        item.update(CreateDate=r.created_at, UpdateDate=r.updated_at, PolicyVersionList=versions[r.id])
        out.append(item)
    return out


def _sections(ctx: OperationContext, filters: set[str]) -> list[Section]:
    acct = ctx.account_id
    sections: list[Section] = []
    if "User" in filters:
        u = t.users
        sections.append(
            Section("User", "UserDetailList", sa.select(u).where(u.c.account_id == acct), [u.c.name_key], _render_users)
        )
    if "Group" in filters:
        g = t.groups
        sections.append(
            Section(
                "Group", "GroupDetailList", sa.select(g).where(g.c.account_id == acct), [g.c.name_key], _render_groups
            )
        )
    if "Role" in filters:
        r = t.roles
        sections.append(
            Section("Role", "RoleDetailList", sa.select(r).where(r.c.account_id == acct), [r.c.name_key], _render_roles)
        )
    local, aws = "LocalManagedPolicy" in filters, "AWSManagedPolicy" in filters
    if local or aws:
        mp = t.managed_policies
        attachment_count = _attachment_count(ctx)
        boundary_count = _boundary_count(ctx)
        scopes: list[sa.ColumnElement[bool]] = []
        if local:
            scopes.append(mp.c.account_id == acct)
        if aws:
            # AWS lists only the AWS managed policies that this account uses.
            scopes.append(sa.and_(mp.c.account_id == "aws", (attachment_count + boundary_count) > 0))
        query = sa.select(mp, attachment_count.label("attachment_count"), boundary_count.label("boundary_count")).where(
            sa.or_(*scopes)
        )
        sections.append(Section("Policy", "Policies", query, [mp.c.name_key, mp.c.id], _render_policies))
    return sections


@operation("iam", "GetAccountAuthorizationDetails", target=any_resource)
def get_account_authorization_details(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    filters = set(p.get("Filter") or ()) or set(ALL_FILTERS)
    sections = _sections(ctx, filters)
    names = [s.name for s in sections]
    max_items = int(p.get("MaxItems") or c.DEFAULT_MAX_ITEMS)
    start_section, after = 0, None
    if p.get("Marker"):
        section_name, keys = c.decode_marker(str(p["Marker"]), 2)
        if section_name not in names or not isinstance(keys, list):
            raise InvalidInput("Invalid Marker.")
        start_section, after = names.index(section_name), keys
    out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    remaining = max_items
    truncated, marker = False, None
    for index in range(start_section, len(sections)):
        section = sections[index]
        query = section.query
        if index == start_section and after is not None:
            if len(after) != len(section.order):
                raise InvalidInput("Invalid Marker.")
            query = query.where(sa.tuple_(*section.order) > sa.tuple_(*after))
        if remaining == 0:
            # The page is full: is there anything left from here on?
            if c.has_rows(ctx, query):
                truncated = True
                break
            continue
        rows = list(ctx.conn.execute(query.order_by(*section.order).limit(remaining + 1)).all())
        page = rows[:remaining]
        out[section.output_key] = section.render(ctx, page)
        remaining -= len(page)
        if len(rows) > len(page):
            truncated = True
        if page:
            last = page[-1]
            marker = c.encode_marker(section.name, [getattr(last, col.key or "") for col in section.order])
        if truncated:
            break
    out["IsTruncated"] = truncated
    if truncated and marker is not None:
        out["Marker"] = marker
    return out
