"""Authorization of every API call with the policy engine.

Each operation maps to its action (``iam:CreateUser``) and the resource ARN AWS's service
authorization reference gives it (the target entity with its path; ``*`` for account-level
actions).  The caller's policies come from the store through a per-generation cache; the
engine (pure) decides.  The account root is not limited by identity policies.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import SessionClaims, session_of
from iamd.core.arn import iam_arn
from iamd.core.crypto import SecretBox
from iamd.core.errors import AccessDenied
from iamd.core.principal import Principal, PrincipalKind
from iamd.orgs.levels import NO_ORGANIZATION, OrgInputs
from iamd.policy import (
    CompiledPolicy,
    Decision,
    Effect,
    EvaluationRequest,
    PolicyKind,
    access_denied_message,
    authorize,
    compile_policy,
    from_core_principal,
)
from iamd.services import authz_messages
from iamd.services.iam import login_profiles
from iamd.services.principal_policies import ManagedPolicyCache, PrincipalPolicies, PrincipalPolicyCache
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


_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'

# What sessions from GetSessionToken may call: IAM only with MFA; STS only these two.
_SESSION_TOKEN_STS_ACTIONS = frozenset({"AssumeRole", "GetCallerIdentity"})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_context(claims: SessionClaims | None, now: float) -> dict[str, str]:
    """Condition keys that come from the caller's session (temporary credentials)."""
    if claims is None:
        return {}
    out = {"aws:TokenIssueTime": _iso(claims.issued_at)}
    if claims.mfa_authenticated_at is not None:
        out["aws:MultiFactorAuthPresent"] = "true"
        out["aws:MultiFactorAuthAge"] = str(max(0, int(now - claims.mfa_authenticated_at)))
    else:
        out["aws:MultiFactorAuthPresent"] = "false"
    return out


class Authorizer:
    def __init__(
        self,
        policies: PrincipalPolicyCache,
        managed: ManagedPolicyCache,
        partition: str,
        message_box: SecretBox | None = None,
    ) -> None:
        self._policies = policies
        self._managed = managed
        self._partition = partition
        self._message_box = message_box
        """When set, AccessDenied answers carry an encoded authorization message."""

    def authorize(
        self,
        conn: Connection,
        service: str,
        action: str,
        caller: Principal,
        params: Mapping[str, Any],
        request_context: Mapping[str, str | Sequence[str]],
    ) -> None:
        claims = session_of(caller)
        if claims is not None and claims.principal_kind in ("user", "root") and not claims.console:
            _check_session_token_limits(claims, service, action)
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
            message = access_denied_message(caller.arn, f"{service}:{action}", target.resource, decision)
            if self._message_box is not None:
                blob = authz_messages.encode(
                    self._message_box, caller, f"{service}:{action}", target.resource, decision, context
                )
                message += f". Encoded authorization failure message: {blob}"
            raise AccessDenied(message)

    def decide(
        self,
        caller: Principal,
        action: str,
        resource: str,
        context: Mapping[str, str | Sequence[str]],
        *,
        resource_policy: CompiledPolicy | None = None,
        resource_account: str | None = None,
        resource_policy_required: bool = False,
        organization: OrgInputs = NO_ORGANIZATION,
    ) -> Decision:
        """The engine's decision for ``caller`` doing ``action`` on ``resource`` (no exception);
        ``organization``: the SCP and RCP levels and condition keys that apply (``iamd.orgs.levels``)."""
        now = time.time()
        claims = session_of(caller)
        policies = self._caller_policies(caller)
        tags = dict(policies.tags)
        session_policies: list[CompiledPolicy] = []
        role_arn = None
        source_identity = None
        if claims is not None:
            tags.update(claims.tags)
            role_arn = claims.role_arn
            source_identity = claims.source_identity
            session_policies = self._session_policies(claims)
        full_context: dict[str, str | Sequence[str]] = {
            **session_context(claims, now),
            **context,
            **organization.context,
        }
        principal = from_core_principal(
            caller,
            tags=tags,
            unique_id=caller.entity_id,
            role_arn=role_arn,
            source_identity=source_identity,
            in_management_account=organization.in_management_account,
        )
        identity = _compiled(policies)
        if caller.kind is PrincipalKind.FEDERATED_USER and claims is not None and claims.entity_id is None:
            identity = [compile_policy(_ALLOW_ALL, policy_id="root")]  # the root's federated users
        request = EvaluationRequest(
            principal=principal,
            action=action,
            resource=resource,
            context=full_context,
            identity_policies=identity,
            permissions_boundaries=(
                [compile_policy(policies.boundary.document, policy_id=policies.boundary.policy_id)]
                if policies.boundary
                else []
            ),
            session_policies=session_policies,
            resource_policy=resource_policy,
            resource_account=resource_account,
            resource_policy_required=resource_policy_required,
            service_control_policies=organization.service_control_policies,
            resource_control_policies=organization.resource_control_policies,
            resource_in_management_account=organization.resource_in_management_account,
            now=now,
        )
        return authorize(request)

    def _session_policies(self, claims: SessionClaims) -> list[CompiledPolicy]:
        compiled = [
            compile_policy(text, policy_id=f"session-policy-{i}", kind=PolicyKind.IDENTITY)
            for i, text in enumerate(claims.session_policies)
        ]
        for arn in claims.session_policy_arns:
            sourced = self._managed.get(arn)
            if sourced is not None:
                compiled.append(compile_policy(sourced.document, policy_id=arn, kind=PolicyKind.IDENTITY))
        return compiled

    def _caller_policies(self, caller: Principal) -> PrincipalPolicies:
        if caller.kind in (PrincipalKind.USER, PrincipalKind.FEDERATED_USER) and caller.entity_id:
            return self._policies.for_user(caller.entity_id)
        if caller.kind is PrincipalKind.ASSUMED_ROLE and caller.entity_id:
            return self._policies.for_role(caller.entity_id)
        return PrincipalPolicies()

    def target(
        self, conn: Connection, service: str, action: str, caller: Principal, params: Mapping[str, Any]
    ) -> Target:
        account, p = caller.account_id, self._partition
        if service == "sts":
            if action == "GetFederationToken" and isinstance(params.get("Name"), str):
                return Target(f"arn:{p}:sts::{account}:federated-user/{params['Name']}", {})
            return Target(str(params.get("RoleArn") or "*"), {})
        if action in _LIST_KINDS:
            prefix = str(params.get("PathPrefix") or "/")
            return Target(f"arn:{p}:iam::{account}:{_LIST_KINDS[action]}{prefix}", {})
        if action in _CREATES:
            name_param = "ServerCertificateName" if action == "UploadServerCertificate" else _name_param(action)
            if isinstance(params.get(name_param), str):
                path = str(params.get("Path") or "/")
                return Target(iam_arn(p, account, _CREATES[action], path, params[name_param]), {})
        if action == "CreateVirtualMFADevice" and isinstance(params.get("VirtualMFADeviceName"), str):
            path = str(params.get("Path") or "/")
            return Target(iam_arn(p, account, "mfa", path, params["VirtualMFADeviceName"]), {})
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
        if isinstance(params.get("PolicySourceArn"), str):  # SimulatePrincipalPolicy, GetContextKeysFor...
            return Target(str(params["PolicySourceArn"]), {})
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


def _check_session_token_limits(claims: SessionClaims, service: str, action: str) -> None:
    """AWS's rules for GetSessionToken credentials."""
    if service == "sts" and action not in _SESSION_TOKEN_STS_ACTIONS:
        raise AccessDenied(f"Cannot call {action} with session credentials")
    if service == "iam" and claims.mfa_authenticated_at is None:
        raise AccessDenied(
            f"User: {claims.arn} is not authorized to perform: iam:{action} "
            "because IAM operations with GetSessionToken credentials require MFA authentication information"
        )


def _self_service_exception(conn: Connection, caller: Principal, action: str) -> bool:
    """AWS lets IAM users change their own password when the account's password policy says so."""
    if caller.kind is not PrincipalKind.USER or action not in ("ChangePassword", "GetAccountPasswordPolicy"):
        return False
    policy = login_profiles.load_policy(conn, caller.account_id)
    return policy is not None and policy.allow_users_to_change
