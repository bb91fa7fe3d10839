"""Managed policies: customer-managed CRUD, versions, tags; AWS managed ones are read-only.

A policy row belongs to an account or to the pseudo-account ``aws`` (AWS managed policies,
shared by every account).  Counts shown to a caller (AttachmentCount,
PermissionsBoundaryUsageCount) only ever count the caller's own account's entities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from iamd.policy.document import PolicyKind, check_document
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.guards import AWS_ACCOUNT, refuse_aws_managed_policy
from iamd.services.registry import operation
from iamd.services.targets import arn_param, created, listing, request_tags
from iamd.store import tables as t

RESOURCE = "policy"

# --- counts ---------------------------------------------------------------------------------------


def attachment_count(ctx: OperationContext) -> sa.ColumnElement[Any]:
    """Correlated count of the caller's account's users, groups and roles attached to the policy row."""
    mp = t.managed_policies
    parts: list[sa.ColumnElement[Any]] = []
    for kind, table in (("user", t.users), ("group", t.groups), ("role", t.roles)):
        pa = t.policy_attachments.alias(f"pa_{kind}_count")
        entity = table.alias(f"{kind}_count")
        parts.append(
            sa.select(sa.func.count())
            .select_from(pa.join(entity, entity.c.id == pa.c.principal_id))
            .where(pa.c.policy_id == mp.c.id, pa.c.principal_type == kind, entity.c.account_id == ctx.account_id)
            .scalar_subquery()
        )
    return parts[0] + parts[1] + parts[2]


def boundary_count(ctx: OperationContext) -> sa.ColumnElement[Any]:
    """Correlated count of the caller's account's users and roles whose permissions boundary is the policy."""
    mp = t.managed_policies
    parts: list[sa.ColumnElement[Any]] = []
    for kind, table in (("user", t.users), ("role", t.roles)):
        entity = table.alias(f"{kind}_boundary")
        parts.append(
            sa.select(sa.func.count())
            .select_from(entity)
            .where(entity.c.account_id == ctx.account_id, entity.c.permissions_boundary == mp.c.arn)
            .scalar_subquery()
        )
    return parts[0] + parts[1]


def policy_query(ctx: OperationContext) -> sa.Select[Any]:
    """Policies visible to the caller (its account's and AWS's) with their usage counts."""
    mp = t.managed_policies
    return sa.select(
        mp,
        attachment_count(ctx).label("attachment_count"),
        boundary_count(ctx).label("boundary_count"),
    ).where(mp.c.account_id.in_([ctx.account_id, AWS_ACCOUNT]))


def policy_output(
    ctx: OperationContext,
    row: Row[Any],
    *,
    with_description: bool = True,
    with_tags: bool = False,
    empty_tags: bool = False,
) -> dict[str, Any]:
    """The ``Policy`` shape of a policy row.

    AWS answers GetPolicy with Description and Tags (an empty list when there are none),
    CreatePolicy without Description and with Tags only when some were given, and ListPolicies
    with neither.
    """
    out: dict[str, Any] = {
        "PolicyName": row.name,
        "PolicyId": row.id,
        "Arn": row.arn,
        "Path": row.path,
        "DefaultVersionId": row.default_version,
        "AttachmentCount": int(getattr(row, "attachment_count", 0) or 0),
        "PermissionsBoundaryUsageCount": int(getattr(row, "boundary_count", 0) or 0),
        "IsAttachable": bool(row.is_attachable),
    }
    if with_description and row.description:
        out["Description"] = row.description
    out["CreateDate"] = row.created_at
    out["UpdateDate"] = row.updated_at
    if with_tags:
        tags = c.get_tags(ctx, RESOURCE, row.id)
        if tags or empty_tags:
            out["Tags"] = tags
    return out


# --- lookups ---------------------------------------------------------------------------------------


def not_found(policy_arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {policy_arn} was not found.")


def find_with_counts(ctx: OperationContext, policy_arn: str) -> Row[Any] | None:
    return ctx.conn.execute(policy_query(ctx).where(t.managed_policies.c.arn == policy_arn)).first()


def get_any(ctx: OperationContext, policy_arn: str) -> Row[Any]:
    """An AWS managed policy or one of the caller's account's (NoSuchEntity otherwise)."""
    row = c.find_policy(ctx, policy_arn)
    if row is None:
        raise not_found(policy_arn)
    return row


def get_local(ctx: OperationContext, policy_arn: str, action: str) -> Row[Any]:
    """A policy the caller may change: AWS managed policies are refused as AWS refuses them."""
    row = get_any(ctx, policy_arn)
    refuse_aws_managed_policy(ctx, row, action)
    # Serialize concurrent changes to one policy (row lock on PostgreSQL; SQLite writers are serial).
    ctx.conn.execute(sa.select(t.managed_policies.c.id).where(t.managed_policies.c.id == row.id).with_for_update())
    return row


def version_not_found(policy_arn: str, version_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {policy_arn} version {version_id} does not exist or is not attachable.")


def _get_version(ctx: OperationContext, policy: Row[Any], version_id: str) -> Row[Any]:
    pv = t.policy_versions
    row = ctx.conn.execute(sa.select(pv).where(pv.c.policy_id == policy.id, pv.c.version_id == version_id)).first()
    if row is None:
        raise version_not_found(policy.arn, version_id)
    return row


def _version_output(row: Row[Any], default_version: str, *, with_document: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_document:
        out["Document"] = row.document
    out.update(
        VersionId=row.version_id,
        IsDefaultVersion=row.version_id == default_version,
        CreateDate=row.created_at,
    )
    return out


def _newest_version_time(ctx: OperationContext, policy_id: str) -> float | None:
    pv = t.policy_versions
    value = ctx.conn.execute(sa.select(sa.func.max(pv.c.created_at)).where(pv.c.policy_id == policy_id)).scalar()
    return float(value) if value is not None else None


# --- policies ---------------------------------------------------------------------------------------


@operation("iam", "CreatePolicy", target=created("policy", "PolicyName"), request_keys=(request_tags,))
def create_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    name: str = p["PolicyName"]
    path = c.check_path(p.get("Path"))
    document: str = p["PolicyDocument"]
    check_document(document, PolicyKind.MANAGED)
    mp = t.managed_policies
    exists = ctx.conn.execute(
        sa.select(mp.c.id).where(mp.c.account_id == ctx.account_id, mp.c.name_key == name.lower())
    ).first()
    if exists is not None:
        raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
    c.check_quota(
        ctx,
        "managed_policies",
        c.count(ctx, sa.select(mp.c.id).where(mp.c.account_id == ctx.account_id)),
        "Cannot exceed quota for PoliciesPerAccount: {limit}",
    )
    tags = p.get("Tags") or []
    c.validate_tags(tags)
    policy_id = ids.unique_id(ids.POLICY_PREFIX)
    now = ctx.now()
    ctx.conn.execute(
        mp.insert().values(
            id=policy_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            arn=c.arn(ctx, "policy", path, name),
            description=p.get("Description") or None,
            created_at=now,
            updated_at=now,
            default_version="v1",
            next_version=2,
            is_attachable=True,
        )
    )
    ctx.conn.execute(
        t.policy_versions.insert().values(
            policy_id=policy_id, version_id="v1", version_number=1, document=document, created_at=now
        )
    )
    c.put_tags(ctx, RESOURCE, policy_id, tags)
    row = ctx.conn.execute(policy_query(ctx).where(mp.c.id == policy_id)).one()
    return {"Policy": policy_output(ctx, row, with_description=False, with_tags=True)}


@operation("iam", "GetPolicy", target=arn_param("PolicyArn"))
def get_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policy_arn: str = p["PolicyArn"]
    row = find_with_counts(ctx, policy_arn)
    if row is None:
        raise not_found(policy_arn)
    return {"Policy": policy_output(ctx, row, with_tags=True, empty_tags=True)}


@operation("iam", "ListPolicies", target=listing("policy"))
def list_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    mp = t.managed_policies
    scope = p.get("Scope") or "All"
    attached = attachment_count(ctx)
    bounded = boundary_count(ctx)
    query = sa.select(mp, attached.label("attachment_count"), bounded.label("boundary_count"))
    if scope == "Local":
        query = query.where(mp.c.account_id == ctx.account_id)
    elif scope == "AWS":
        query = query.where(mp.c.account_id == AWS_ACCOUNT)
    else:
        query = query.where(mp.c.account_id.in_([ctx.account_id, AWS_ACCOUNT]))
    usage = p.get("PolicyUsageFilter")
    if usage == "PermissionsBoundary":
        query = query.where(bounded > 0)
    elif p.get("OnlyAttached"):
        query = query.where(attached > 0)
    prefix = c.path_prefix_filter(mp.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [mp.c.name_key, mp.c.id], p)
    return {"Policies": [policy_output(ctx, r, with_description=False) for r in rows], **extra}


@operation("iam", "DeletePolicy", target=arn_param("PolicyArn"))
def delete_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = get_local(ctx, p["PolicyArn"], "DeletePolicy")
    pa, pv = t.policy_attachments, t.policy_versions
    in_use = c.has_rows(ctx, sa.select(pa.c.policy_id).where(pa.c.policy_id == row.id)) or any(
        c.has_rows(
            ctx,
            sa.select(table.c.id).where(table.c.account_id == ctx.account_id, table.c.permissions_boundary == row.arn),
        )
        for table in (t.users, t.roles)
    )
    if in_use:
        raise DeleteConflict("Cannot delete a policy attached to entities.")
    versions = c.count(ctx, sa.select(pv.c.version_id).where(pv.c.policy_id == row.id))
    if versions > 1:
        raise DeleteConflict(
            "This policy has more than one version. Before you delete a policy, you must delete the policy's "
            "versions. The default version is deleted with the policy."
        )
    ctx.conn.execute(pv.delete().where(pv.c.policy_id == row.id))
    c.delete_all_tags(ctx, RESOURCE, row.id)
    ctx.conn.execute(t.managed_policies.delete().where(t.managed_policies.c.id == row.id))
    return None


# --- versions ----------------------------------------------------------------------------------------


@operation("iam", "CreatePolicyVersion", target=arn_param("PolicyArn"))
def create_policy_version(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = get_local(ctx, p["PolicyArn"], "CreatePolicyVersion")
    document: str = p["PolicyDocument"]
    check_document(document, PolicyKind.MANAGED)
    pv, mp = t.policy_versions, t.managed_policies
    limit = ctx.quotas.policy_versions
    if c.count(ctx, sa.select(pv.c.version_id).where(pv.c.policy_id == row.id)) >= limit:
        raise LimitExceeded(
            f"A managed policy can have up to {limit} versions. "
            "Before you create a new version, you must delete an existing version."
        )
    # Version numbers only ever grow: v1, v2, ... are never reused after a delete.
    ctx.conn.execute(mp.update().where(mp.c.id == row.id).values(next_version=mp.c.next_version + 1))
    number = int(ctx.conn.execute(sa.select(mp.c.next_version).where(mp.c.id == row.id)).scalar_one()) - 1
    version_id = f"v{number}"
    now = ctx.now()
    ctx.conn.execute(
        pv.insert().values(
            policy_id=row.id, version_id=version_id, version_number=number, document=document, created_at=now
        )
    )
    values: dict[str, Any] = {"updated_at": now}
    default = row.default_version
    if p.get("SetAsDefault"):
        values["default_version"] = default = version_id
    ctx.conn.execute(mp.update().where(mp.c.id == row.id).values(**values))
    version = _get_version(ctx, row, version_id)
    return {"PolicyVersion": _version_output(version, default, with_document=False)}


@operation("iam", "GetPolicyVersion", target=arn_param("PolicyArn"))
def get_policy_version(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policy_arn: str = p["PolicyArn"]
    row = c.find_policy(ctx, policy_arn)
    if row is None:
        raise version_not_found(policy_arn, p["VersionId"])
    version = _get_version(ctx, row, p["VersionId"])
    return {"PolicyVersion": _version_output(version, row.default_version, with_document=True)}


@operation("iam", "ListPolicyVersions", target=arn_param("PolicyArn"))
def list_policy_versions(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = get_any(ctx, p["PolicyArn"])
    pv = t.policy_versions
    query = sa.select(pv).where(pv.c.policy_id == row.id)
    # Newest first, as AWS lists them.
    rows, extra = c.paginate(ctx, query, [-pv.c.version_number], p, marker_of=lambda r: [-r.version_number])
    return {"Versions": [_version_output(v, row.default_version, with_document=False) for v in rows], **extra}


@operation("iam", "DeletePolicyVersion", target=arn_param("PolicyArn"))
def delete_policy_version(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = get_local(ctx, p["PolicyArn"], "DeletePolicyVersion")
    version_id: str = p["VersionId"]
    _get_version(ctx, row, version_id)
    if version_id == row.default_version:
        raise DeleteConflict("Cannot delete the default version of a policy.")
    pv, mp = t.policy_versions, t.managed_policies
    ctx.conn.execute(pv.delete().where(pv.c.policy_id == row.id, pv.c.version_id == version_id))
    newest = _newest_version_time(ctx, row.id)
    if newest is not None and newest != row.updated_at:
        ctx.conn.execute(mp.update().where(mp.c.id == row.id).values(updated_at=newest))
    return None


@operation("iam", "SetDefaultPolicyVersion", target=arn_param("PolicyArn"))
def set_default_policy_version(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = get_local(ctx, p["PolicyArn"], "SetDefaultPolicyVersion")
    version = _get_version(ctx, row, p["VersionId"])
    mp = t.managed_policies
    ctx.conn.execute(mp.update().where(mp.c.id == row.id).values(default_version=version.version_id))
    return None
