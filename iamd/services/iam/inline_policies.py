"""Inline policies of users, groups and roles: put, get, delete, list.

AWS limits each entity's inline policies in aggregate: the non-whitespace characters of all
of a user's inline policy documents at most 2,048, a group's 5,120, a role's 10,240.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from iamd.core.errors import LimitExceeded, NoSuchEntity
from iamd.policy.document import SIZE_LIMITS, PolicyKind, check_document, policy_size
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.attachments import GROUP, ROLE, USER, Kind, get_principal
from iamd.services.registry import operation
from iamd.services.targets import existing
from iamd.store import tables as t

_POLICY_KIND = {"user": PolicyKind.USER_INLINE, "group": PolicyKind.GROUP_INLINE, "role": PolicyKind.ROLE_INLINE}


def not_found(kind: Kind, policy_name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The {kind.name} policy with name {policy_name} cannot be found.")


def put(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> None:
    entity = get_principal(ctx, kind, p[kind.param], for_change=True)
    policy_name: str = p["PolicyName"]
    document: str = p["PolicyDocument"]
    policy_kind = _POLICY_KIND[kind.name]
    check_document(document, policy_kind, entity.name)
    ip = t.inline_policies
    mine = (ip.c.principal_type == kind.name, ip.c.principal_id == entity.id)
    others = ctx.conn.execute(sa.select(ip.c.document).where(*mine, ip.c.name_key != policy_name.lower())).all()
    limit = SIZE_LIMITS[policy_kind]
    if sum(policy_size(r.document) for r in others) + policy_size(document) > limit:
        raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind.name} {entity.name}")
    updated = ctx.conn.execute(
        ip.update().where(*mine, ip.c.name_key == policy_name.lower()).values(name=policy_name, document=document)
    )
    if not updated.rowcount:
        ctx.conn.execute(
            ip.insert().values(
                principal_type=kind.name,
                principal_id=entity.id,
                name_key=policy_name.lower(),
                name=policy_name,
                document=document,
            )
        )


def get(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> dict[str, Any]:
    entity = get_principal(ctx, kind, p[kind.param])
    policy_name: str = p["PolicyName"]
    ip = t.inline_policies
    row = ctx.conn.execute(
        sa.select(ip.c.name, ip.c.document).where(
            ip.c.principal_type == kind.name, ip.c.principal_id == entity.id, ip.c.name_key == policy_name.lower()
        )
    ).first()
    if row is None:
        raise not_found(kind, policy_name)
    return {kind.param: entity.name, "PolicyName": row.name, "PolicyDocument": row.document}


def delete(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> None:
    entity = get_principal(ctx, kind, p[kind.param], for_change=True)
    policy_name: str = p["PolicyName"]
    ip = t.inline_policies
    result = ctx.conn.execute(
        ip.delete().where(
            ip.c.principal_type == kind.name, ip.c.principal_id == entity.id, ip.c.name_key == policy_name.lower()
        )
    )
    if not result.rowcount:
        raise not_found(kind, policy_name)


def list_names(ctx: OperationContext, kind: Kind, p: Mapping[str, Any]) -> dict[str, Any]:
    entity = get_principal(ctx, kind, p[kind.param])
    ip = t.inline_policies
    query = sa.select(ip.c.name, ip.c.name_key).where(ip.c.principal_type == kind.name, ip.c.principal_id == entity.id)
    rows, extra = c.paginate(ctx, query, [ip.c.name_key], p)
    return {"PolicyNames": [r.name for r in rows], **extra}


@operation("iam", "PutUserPolicy", target=existing("user", "UserName"))
def put_user_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    put(ctx, USER, p)
    return None


@operation("iam", "PutGroupPolicy", target=existing("group", "GroupName"))
def put_group_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    put(ctx, GROUP, p)
    return None


@operation("iam", "PutRolePolicy", target=existing("role", "RoleName"))
def put_role_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    put(ctx, ROLE, p)
    return None


@operation("iam", "GetUserPolicy", target=existing("user", "UserName"))
def get_user_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return get(ctx, USER, p)


@operation("iam", "GetGroupPolicy", target=existing("group", "GroupName"))
def get_group_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return get(ctx, GROUP, p)


@operation("iam", "GetRolePolicy", target=existing("role", "RoleName"))
def get_role_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return get(ctx, ROLE, p)


@operation("iam", "DeleteUserPolicy", target=existing("user", "UserName"))
def delete_user_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    delete(ctx, USER, p)
    return None


@operation("iam", "DeleteGroupPolicy", target=existing("group", "GroupName"))
def delete_group_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    delete(ctx, GROUP, p)
    return None


@operation("iam", "DeleteRolePolicy", target=existing("role", "RoleName"))
def delete_role_policy(ctx: OperationContext, p: dict[str, Any]) -> None:
    delete(ctx, ROLE, p)
    return None


@operation("iam", "ListUserPolicies", target=existing("user", "UserName"))
def list_user_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return list_names(ctx, USER, p)


@operation("iam", "ListGroupPolicies", target=existing("group", "GroupName"))
def list_group_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return list_names(ctx, GROUP, p)


@operation("iam", "ListRolePolicies", target=existing("role", "RoleName"))
def list_role_policies(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return list_names(ctx, ROLE, p)
