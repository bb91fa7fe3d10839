"""What each operation is authorized against, declared where the operation is defined.

An operation's declaration (``@operation(..., target=..., request_keys=..., resource_policy=...)``)
names, with the small builders here, the resource ARN AWS's Service Authorization Reference
gives the action (the target entity with its path and tags; the path prefix for a list; ``*``
only where AWS documents no resource type), the condition keys taken from the request's own
parameters, and, for actions decided with a resource-based policy (``sts:AssumeRole``), where
that policy comes from.  ``services/authz.py`` reads the declaration and knows no operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import session_of
from iamd.core.arn import iam_arn, split_iam_resource, try_parse
from iamd.core.errors import AccessDenied, ValidationError
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy import CompiledPolicy, PolicyKind, compile_policy
from iamd.store import tables as t

ContextValues = dict[str, str | Sequence[str]]


@dataclass(frozen=True, slots=True)
class Target:
    resource: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetQuery:
    """What a target builder may read: the request's transaction, caller and parameters."""

    conn: Connection
    caller: Principal
    partition: str
    params: Mapping[str, Any]

    @property
    def account(self) -> str:
        return self.caller.account_id


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A resource-based policy the decision needs (a role's trust policy for sts:AssumeRole)."""

    policy: CompiledPolicy
    account: str
    required: bool = True
    """True when the resource policy must allow (a trust policy); the identity policy alone is not enough."""


TargetBuilder = Callable[[TargetQuery], Target | None]
"""Returns the target, or None when the parameters it reads are absent (``first`` tries the next)."""
RequestKeys = Callable[[Mapping[str, Any]], ContextValues]
ResourcePolicySource = Callable[[TargetQuery], ResourcePolicy]
ExtraAction = Callable[[TargetQuery], str | None]
"""A further action the same request is checked for (sts:TagSession when session tags are given)."""


# --- targets ---------------------------------------------------------------------------------------

# Entities looked up by name: table, and the resource type their tags are stored under (None: the
# authorizer does not read tags for that kind).
_ENTITIES: dict[str, tuple[sa.Table, str | None]] = {
    "user": (t.users, "user"),
    "group": (t.groups, None),
    "role": (t.roles, "role"),
    "instance-profile": (t.instance_profiles, None),
    "server-certificate": (t.server_certificates, "server-certificate"),
}


def existing(kind: str, name_param: str) -> TargetBuilder:
    """The named entity's ARN with its stored path and tags (path ``/`` when it does not exist)."""
    table, tag_type = _ENTITIES[kind]

    def build(q: TargetQuery) -> Target | None:
        name = q.params.get(name_param)
        if not isinstance(name, str):
            return None
        row = q.conn.execute(
            sa.select(table.c.id, table.c.name, table.c.path).where(
                table.c.account_id == q.account, table.c.name_key == name.lower()
            )
        ).first()
        if row is None:
            return Target(iam_arn(q.partition, q.account, kind, "/", name))
        tags = entity_tags(q.conn, tag_type, row.id) if tag_type else {}
        return Target(iam_arn(q.partition, q.account, kind, row.path, row.name), tags)

    return build


def created(kind: str, name_param: str, path_param: str = "Path") -> TargetBuilder:
    """The ARN the entity being created will have (its path from the input)."""

    def build(q: TargetQuery) -> Target | None:
        name = q.params.get(name_param)
        if not isinstance(name, str):
            return None
        path = str(q.params.get(path_param) or "/")
        return Target(iam_arn(q.partition, q.account, kind, path, name))

    return build


def listing(kind: str) -> TargetBuilder:
    """List operations: the kind's ARN up to the path prefix (AWS: ``on resource: ...:user/``)."""

    def build(q: TargetQuery) -> Target:
        prefix = str(q.params.get("PathPrefix") or "/")
        return Target(f"arn:{q.partition}:iam::{q.account}:{kind}{prefix}")

    return build


def arn_param(param: str) -> TargetBuilder:
    """The ARN given in a parameter (PolicyArn, SerialNumber, RoleArn, PolicySourceArn)."""

    def build(q: TargetQuery) -> Target | None:
        value = q.params.get(param)
        return Target(value) if isinstance(value, str) else None

    return build


def federated_user(name_param: str) -> TargetBuilder:
    def build(q: TargetQuery) -> Target | None:
        name = q.params.get(name_param)
        if not isinstance(name, str):
            return None
        return Target(f"arn:{q.partition}:sts::{q.account}:federated-user/{name}")

    return build


def calling_user(q: TargetQuery) -> Target:
    """The calling IAM user (operations whose UserName defaults to the caller); ``*`` for other callers."""
    return Target(q.caller.arn if q.caller.kind is PrincipalKind.USER else "*")


def any_resource(q: TargetQuery) -> Target:
    """``*``: AWS documents no resource type for the action (account-level operations)."""
    return Target("*")


def first(*builders: TargetBuilder) -> TargetBuilder:
    """The first builder that finds its parameters (UserName, else the caller)."""

    def build(q: TargetQuery) -> Target | None:
        for builder in builders:
            found = builder(q)
            if found is not None:
                return found
        return None

    return build


def user_or_caller() -> TargetBuilder:
    """UserName when given, else the calling user (AWS's self-service operations)."""
    return first(existing("user", "UserName"), calling_user)


def entity_tags(conn: Connection, resource_type: str, resource_id: str) -> dict[str, str]:
    tt = t.tags
    rows = conn.execute(
        sa.select(tt.c.key, tt.c.value).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
    )
    return {r.key: r.value for r in rows}


# --- condition keys from the request ------------------------------------------------------------------


def request_tags(params: Mapping[str, Any]) -> ContextValues:
    """``aws:RequestTag/*`` and ``aws:TagKeys`` from a ``Tags`` list."""
    out: ContextValues = {}
    tags = params.get("Tags")
    if isinstance(tags, list) and tags:
        for tag in tags:
            out[f"aws:RequestTag/{tag['Key']}"] = tag.get("Value", "")
        out["aws:TagKeys"] = [tag["Key"] for tag in tags]
    return out


def tag_keys(params: Mapping[str, Any]) -> ContextValues:
    """``aws:TagKeys`` from an untag operation's ``TagKeys``."""
    keys = params.get("TagKeys")
    return {"aws:TagKeys": list(keys)} if isinstance(keys, list) and keys else {}


def policy_arn(params: Mapping[str, Any]) -> ContextValues:
    """``iam:PolicyARN`` for attach and detach operations."""
    value = params.get("PolicyArn")
    return {"iam:PolicyARN": value} if isinstance(value, str) else {}


def permissions_boundary(params: Mapping[str, Any]) -> ContextValues:
    value = params.get("PermissionsBoundary")
    return {"iam:PermissionsBoundary": value} if isinstance(value, str) else {}


def aws_service_name(params: Mapping[str, Any]) -> ContextValues:
    value = params.get("AWSServiceName")
    return {"iam:AWSServiceName": value} if isinstance(value, str) else {}


def assume_role_keys(params: Mapping[str, Any]) -> ContextValues:
    """The ``sts:`` keys AssumeRole's trust policy can test, with the session tags."""
    out: ContextValues = {"sts:RoleSessionName": params["RoleSessionName"]}
    if params.get("ExternalId") is not None:
        out["sts:ExternalId"] = params["ExternalId"]
    out.update(request_tags(params))
    transitive = params.get("TransitiveTagKeys")
    if transitive:
        out["sts:TransitiveTagKeys"] = list(transitive)
    if params.get("SourceIdentity") is not None:
        out["sts:SourceIdentity"] = params["SourceIdentity"]
    return out


# --- resource-based policies and further actions ------------------------------------------------------


def find_role_by_arn(conn: Connection, partition: str, caller: Principal, role_arn: str) -> Any:
    """The role a RoleArn names, or AWS's errors: ValidationError (not a role ARN), AccessDenied (none)."""
    parsed = try_parse(role_arn)
    if parsed is None or parsed.service != "iam" or not parsed.resource.startswith("role/"):
        raise ValidationError(f"{role_arn} is invalid")
    not_authorized = f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    if parsed.partition != partition:
        raise AccessDenied(not_authorized)
    _, path, name = split_iam_resource(parsed.resource)
    r = t.roles
    role = conn.execute(
        sa.select(r).where(r.c.account_id == parsed.account, r.c.name_key == name.lower(), r.c.path == path)
    ).first()
    if role is None or role.name != name:
        raise AccessDenied(not_authorized)
    return role


def trust_policy_of_role(q: TargetQuery) -> ResourcePolicy:
    """sts:AssumeRole is decided with the role's trust policy (which must allow the caller)."""
    role_arn = str(q.params["RoleArn"])
    role = find_role_by_arn(q.conn, q.partition, q.caller, role_arn)
    trust = compile_policy(role.trust_policy, policy_id=f"{role_arn} trust policy", kind=PolicyKind.TRUST)
    return ResourcePolicy(trust, role.account_id)


def tag_session(q: TargetQuery) -> str | None:
    """sts:TagSession when the request passes session tags or transitive tag keys."""
    return "sts:TagSession" if q.params.get("Tags") or q.params.get("TransitiveTagKeys") else None


def set_source_identity(q: TargetQuery) -> str | None:
    """sts:SetSourceIdentity when the request sets a source identity the caller's session does not carry."""
    if q.params.get("SourceIdentity") is None:
        return None
    claims = session_of(q.caller)
    inherited = claims.source_identity if claims else None
    return "sts:SetSourceIdentity" if inherited is None else None
