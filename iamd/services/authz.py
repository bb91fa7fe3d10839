"""Authorization of every API call with the policy engine.

Each operation maps to its action (``iam:CreateUser``) and the resource ARN AWS's service
authorization reference gives it (the target entity with its path; ``*`` for account-level
actions).  The caller's policies come from the store through a per-generation cache; the
engine (pure) decides.  The account root is not limited by identity policies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core.arn import iam_arn
from iamd.core.errors import AccessDenied
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy import (
    CompiledPolicy,
    Decision,
    Effect,
    EvaluationRequest,
    PolicyKind,
    access_denied_message,
    compile_policy,
    evaluate,
    from_core_principal,
)
from iamd.services.principal_policies import PrincipalPolicies, PrincipalPolicyCache
from iamd.store import tables as t

# Parameters that name the resource, in priority order (AddUserToGroup acts on the group,
# AttachUserPolicy on the user, AddRoleToInstanceProfile on the instance profile ...).
_ENTITY_PARAMS: tuple[tuple[str, sa.Table, str, str | None], ...] = (
    ("GroupName", t.groups, "group", None),
    ("InstanceProfileName", t.instance_profiles, "instance-profile", None),
    ("RoleName", t.roles, "role", "role"),
    ("UserName", t.users, "user", "user"),
    ("ServerCertificateName", t.server_certificates, "server-certificate", "server-certificate"),
)

# Operations whose resource is the calling user when no UserName is given.
_SELF_USER_OPERATIONS = frozenset(
    {
        "GetUser",
        "CreateAccessKey",
        "ListAccessKeys",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "ChangePassword",
        "ListSigningCertificates",
        "UploadSigningCertificate",
        "UpdateSigningCertificate",
        "DeleteSigningCertificate",
        "ListSSHPublicKeys",
        "ListMFADevices",
        "ListServiceSpecificCredentials",
    }
)

# List operations evaluated against the entity kind's path prefix (AWS: "on resource: ...:user/").
_LIST_KINDS = {
    "ListUsers": "user",
    "ListGroups": "group",
    "ListRoles": "role",
    "ListPolicies": "policy",
    "ListInstanceProfiles": "instance-profile",
    "ListServerCertificates": "server-certificate",
}

# Operations that create the named entity: its ARN is built from the input Path.
_CREATES = {
    "CreateUser": "user",
    "CreateGroup": "group",
    "CreateRole": "role",
    "CreateInstanceProfile": "instance-profile",
    "UploadServerCertificate": "server-certificate",
}

@dataclass(frozen=True, slots=True)
class Target:
    resource: str
    tags: Mapping[str, str]


class Authorizer:
    def __init__(self, policies: PrincipalPolicyCache, partition: str) -> None:
        self._policies = policies
        self._partition = partition

    def authorize(
        self,
        conn: Connection,
        service: str,
        action: str,
        caller: Principal,
        params: Mapping[str, Any],
        request_context: Mapping[str, str | Sequence[str]],
    ) -> None:
        if caller.kind is PrincipalKind.ROOT:
            return
        target = self.target(conn, service, action, caller, params)
        context: dict[str, str | Sequence[str]] = dict(request_context)
        for key, value in target.tags.items():
            context[f"aws:ResourceTag/{key}"] = value
            context[f"iam:ResourceTag/{key}"] = value
        context.update(_request_keys(action, params))
        decision = self.decide(caller, f"{service}:{action}", target.resource, context)
        if decision.effect is not Effect.ALLOW and not _self_service_exception(conn, caller, action):
            raise AccessDenied(access_denied_message(caller.arn, f"{service}:{action}", target.resource, decision))

    def decide(
        self, caller: Principal, action: str, resource: str, context: Mapping[str, str | Sequence[str]]
    ) -> Decision:
        policies = self._caller_policies(caller)
        principal = from_core_principal(caller, tags=policies.tags, unique_id=caller.entity_id)
        request = EvaluationRequest(
            principal=principal,
            action=action,
            resource=resource,
            context=context,
            identity_policies=_compiled(policies),
            permissions_boundaries=(
                [compile_policy(policies.boundary.document, policy_id=policies.boundary.policy_id)]
                if policies.boundary
                else []
            ),
            now=time.time(),
        )
        return evaluate(request)

    def _caller_policies(self, caller: Principal) -> PrincipalPolicies:
        if caller.kind is PrincipalKind.USER and caller.entity_id:
            return self._policies.for_user(caller.entity_id)
        if caller.kind is PrincipalKind.ASSUMED_ROLE and caller.entity_id:
            return self._policies.for_role(caller.entity_id)
        return PrincipalPolicies()

    def target(
        self, conn: Connection, service: str, action: str, caller: Principal, params: Mapping[str, Any]
    ) -> Target:
        account, p = caller.account_id, self._partition
        if service == "sts":
            return Target(str(params.get("RoleArn") or "*"), {})
        if action in _LIST_KINDS:
            prefix = str(params.get("PathPrefix") or "/")
            return Target(f"arn:{p}:iam::{account}:{_LIST_KINDS[action]}{prefix}", {})
        if action in _CREATES:
            name_param = "ServerCertificateName" if action == "UploadServerCertificate" else _name_param(action)
            if isinstance(params.get(name_param), str):
                path = str(params.get("Path") or "/")
                return Target(iam_arn(p, account, _CREATES[action], path, params[name_param]), {})
        if action == "CreatePolicy" and isinstance(params.get("PolicyName"), str):
            path = str(params.get("Path") or "/")
            return Target(iam_arn(p, account, "policy", path, params["PolicyName"]), {})
        for param, table, kind, tag_type in _ENTITY_PARAMS:
            name = params.get(param)
            if isinstance(name, str):
                row = conn.execute(
                    sa.select(table.c.id, table.c.name, table.c.path).where(
                        table.c.account_id == account, table.c.name_key == name.lower()
                    )
                ).first()
                if row is None:
                    return Target(iam_arn(p, account, kind, "/", name), {})
                tags = _entity_tags(conn, tag_type, row.id) if tag_type else {}
                return Target(iam_arn(p, account, kind, row.path, row.name), tags)
        if isinstance(params.get("PolicyArn"), str):
            return Target(str(params["PolicyArn"]), {})
        if isinstance(params.get("SerialNumber"), str):
            return Target(str(params["SerialNumber"]), {})
        if action in _SELF_USER_OPERATIONS and caller.kind is PrincipalKind.USER:
            return Target(caller.arn, {})
        return Target("*", {})


def _name_param(action: str) -> str:
    return {"CreateUser": "UserName", "CreateGroup": "GroupName", "CreateRole": "RoleName"}.get(
        action, "InstanceProfileName"
    )


def _entity_tags(conn: Connection, resource_type: str, resource_id: str) -> dict[str, str]:
    tt = t.tags
    rows = conn.execute(
        sa.select(tt.c.key, tt.c.value).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
    )
    return {r.key: r.value for r in rows}


def _request_keys(action: str, params: Mapping[str, Any]) -> dict[str, str | Sequence[str]]:
    """Condition keys that come from the request's own parameters."""
    out: dict[str, str | Sequence[str]] = {}
    tags = params.get("Tags")
    if isinstance(tags, list) and tags:
        for tag in tags:
            out[f"aws:RequestTag/{tag['Key']}"] = tag.get("Value", "")
        out["aws:TagKeys"] = [tag["Key"] for tag in tags]
    keys = params.get("TagKeys")
    if isinstance(keys, list) and keys:
        out["aws:TagKeys"] = list(keys)
    if action.startswith(("Attach", "Detach")) and isinstance(params.get("PolicyArn"), str):
        out["iam:PolicyARN"] = params["PolicyArn"]
    boundary = params.get("PermissionsBoundary")
    if isinstance(boundary, str):
        out["iam:PermissionsBoundary"] = boundary
    if isinstance(params.get("AWSServiceName"), str):
        out["iam:AWSServiceName"] = params["AWSServiceName"]
    return out


def _compiled(policies: PrincipalPolicies) -> list[CompiledPolicy]:
    return [compile_policy(p.document, policy_id=p.policy_id, kind=PolicyKind.IDENTITY) for p in policies.identity]


def _self_service_exception(conn: Connection, caller: Principal, action: str) -> bool:
    """AWS lets IAM users change their own password when the account's password policy says so."""
    if caller.kind is not PrincipalKind.USER or action not in ("ChangePassword", "GetAccountPasswordPolicy"):
        return False
    row = conn.execute(
        sa.select(t.password_policies.c.document).where(t.password_policies.c.account_id == caller.account_id)
    ).first()
    if row is None:
        return False
    try:
        doc = json.loads(row.document)
    except ValueError:
        return False
    return bool(doc.get("allow_users_to_change") or doc.get("AllowUsersToChangePassword"))
