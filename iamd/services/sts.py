"""STS: temporary credentials (AssumeRole, GetSessionToken, GetFederationToken) and identity.

Issuing credentials writes nothing to the database: the session token carries the session
(``iamd.auth.session_tokens``), so every node holding the token keys can serve it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from iamd.auth.session_tokens import SessionClaims, session_of
from iamd.core import ids
from iamd.core.errors import (
    AccessDenied,
    InvalidParameterValue,
    PackedPolicyTooLarge,
    ValidationError,
)
from iamd.core.principal import PrincipalKind
from iamd.policy import PolicyKind
from iamd.policy.document import check_document, policy_size
from iamd.services import authz_messages, mfa
from iamd.services.context import OperationContext
from iamd.services.registry import operation
from iamd.services.targets import (
    any_resource,
    arn_param,
    assume_role_keys,
    federated_user,
    find_role_by_arn,
    request_tags,
    set_source_identity,
    tag_session,
    trust_policy_of_role,
)
from iamd.store import tables as t

MIN_DURATION = 900
CHAINED_MAX = 3600
LONG_TERM_MAX = 129600
DEFAULT_LONG_TERM = 43200
ROOT_MAX = 3600
MAX_SESSION_TAGS = 50
MAX_POLICY_ARNS = 10
PACKED_LIMIT = 2048
ROOT_REFUSED = "Roles may not be assumed by root accounts."


@operation("sts", "GetCallerIdentity", authorization="skip")
def get_caller_identity(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    caller = ctx.caller
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}


# --- shared pieces ---------------------------------------------------------------------------------


def _verify_mfa(ctx: OperationContext, p: Mapping[str, Any]) -> float | None:
    """SerialNumber + TokenCode checked for the caller (iamd.services.mfa); the MFA time or None."""
    return mfa.authenticate(ctx, p.get("SerialNumber"), p.get("TokenCode"))


def _session_policies(
    ctx: OperationContext, p: Mapping[str, Any], account: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    texts: tuple[str, ...] = ()
    if p.get("Policy"):
        check_document(p["Policy"], PolicyKind.SESSION)
        texts = (p["Policy"],)
    arns = tuple(item["arn"] for item in p.get("PolicyArns") or [])
    if len(arns) > MAX_POLICY_ARNS:
        raise ValidationError(
            "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: "
            "Member must have length less than or equal to 10"
        )
    mp = t.managed_policies
    for arn in arns:
        row = ctx.conn.execute(sa.select(mp.c.account_id).where(mp.c.arn == arn)).first()
        if row is None or row.account_id not in ("aws", account):
            raise InvalidParameterValue(f"The policy {arn} does not exist or is not attachable.")
    return texts, arns


def _tags(p: Mapping[str, Any]) -> dict[str, str]:
    tags = p.get("Tags") or []
    if len(tags) > MAX_SESSION_TAGS:
        raise ValidationError(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50"
        )
    out: dict[str, str] = {}
    seen: set[str] = set()
    for tag in tags:
        key = tag["Key"]
        if key.lower() in seen:
            raise InvalidParameterValue("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
        out[key] = tag["Value"]
    return out


def _packed_size(policies: Sequence[str], arns: Sequence[str], tags: Mapping[str, str]) -> int:
    """Percent of the packed-policy allowance used by session policies and tags (AWS's PackedPolicySize)."""
    used = sum(policy_size(text) for text in policies) + sum(len(a) for a in arns)
    used += sum(len(k) + len(v) for k, v in tags.items())
    return (used * 100 + PACKED_LIMIT - 1) // PACKED_LIMIT


def _duration(value: Any, default: int, maximum: int, message: str) -> int:
    duration = default if value is None else int(value)
    if duration < MIN_DURATION:
        raise ValidationError(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {MIN_DURATION}"
        )
    if duration > maximum:
        raise ValidationError(message)
    return duration


def _credentials(ctx: OperationContext, claims_fields: dict[str, Any]) -> tuple[SessionClaims, dict[str, Any]]:
    account = claims_fields["account_id"]
    key_id = ids.temporary_access_key_id(account)
    secret = ids.secret_access_key()
    claims = SessionClaims(access_key_id=key_id, secret_access_key=secret, **claims_fields)
    token = ctx.seal_token(claims)
    return claims, {
        "AccessKeyId": key_id,
        "SecretAccessKey": secret,
        "SessionToken": token,
        "Expiration": claims.expires_at,
    }


# --- AssumeRole ------------------------------------------------------------------------------------


_MFA_PRESENT = {"aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "0"}
"""What a TokenCode verified with this request establishes for the trust policy."""


@operation(
    "sts",
    "AssumeRole",
    target=arn_param("RoleArn"),
    request_keys=(assume_role_keys,),
    resource_policy=trust_policy_of_role,
    extra_actions=(tag_session, set_source_identity),
    authorization="handler",
    writes=False,
)
def assume_role(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    caller = ctx.caller
    if caller.is_root:
        # AWS refuses the root user (and its GetSessionToken sessions) before looking at the role.
        raise AccessDenied(ROOT_REFUSED)
    caller_session = session_of(caller)
    mfa_at = _verify_mfa(ctx, p)
    role_arn: str = p["RoleArn"]
    session_name: str = p["RoleSessionName"]
    role = find_role_by_arn(ctx.conn, ctx.partition, caller, role_arn)

    chained = caller.kind is PrincipalKind.ASSUMED_ROLE
    if chained:
        duration = _duration(
            p.get("DurationSeconds"),
            min(3600, CHAINED_MAX),
            CHAINED_MAX,
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        )
    else:
        duration = _duration(
            p.get("DurationSeconds"),
            3600,
            role.max_session_duration,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        )

    policies, policy_arns = _session_policies(ctx, p, role.account_id)
    new_tags = _tags(p)
    transitive_new = tuple(p.get("TransitiveTagKeys") or [])
    lowered_new = {k.lower() for k in new_tags}
    for key in transitive_new:
        if key.lower() not in lowered_new:
            raise InvalidParameterValue(f"The transitive tag key {key} is not among the session tags.")
    inherited: dict[str, str] = {}
    inherited_keys: tuple[str, ...] = ()
    if caller_session is not None and caller_session.transitive_tag_keys:
        keys = {k.lower() for k in caller_session.transitive_tag_keys}
        inherited = {k: v for k, v in caller_session.tags.items() if k.lower() in keys}
        inherited_keys = tuple(caller_session.transitive_tag_keys)
        clash = [k for k in new_tags if k.lower() in keys]
        if clash:
            raise InvalidParameterValue(
                f"One or more session tags conflict with transitive tags of the calling session: {', '.join(clash)}"
            )
    source_identity = p.get("SourceIdentity")
    inherited_source = caller_session.source_identity if caller_session else None
    if inherited_source is not None and source_identity is not None and source_identity != inherited_source:
        raise AccessDenied(
            f"User: {caller.arn} is not authorized to perform: sts:SetSourceIdentity on resource: {role_arn}: "
            "the source identity of a session cannot be changed"
        )

    # The declared trust-policy check (sts:AssumeRole, and sts:TagSession / sts:SetSourceIdentity
    # when the request needs them), after the input is known to be valid, as AWS orders it.
    ctx.authorize(established=_MFA_PRESENT if mfa_at is not None else None)

    now = ctx.now()
    all_tags = {**inherited, **new_tags}
    packed = _packed_size(policies, policy_arns, all_tags)
    if packed > 100:
        raise PackedPolicyTooLarge(
            f"Packed policy consumes {packed}% of allotted space, please use smaller policy for this session"
        )
    assumed_arn = f"arn:{ctx.partition}:sts::{role.account_id}:assumed-role/{role.name}/{session_name}"
    assumed_id = f"{role.id}:{session_name}"
    _, credentials = _credentials(
        ctx,
        {
            "account_id": role.account_id,
            "principal_kind": "assumed-role",
            "arn": assumed_arn,
            "user_id": assumed_id,
            "name": role.name,
            "issued_at": now,
            "expires_at": now + duration,
            "entity_id": role.id,
            "session_name": session_name,
            "session_policies": policies,
            "session_policy_arns": policy_arns,
            "tags": all_tags,
            "transitive_tag_keys": inherited_keys + transitive_new,
            "source_identity": inherited_source or source_identity,
            "mfa_authenticated_at": (
                mfa_at if mfa_at is not None else caller_session.mfa_authenticated_at if caller_session else None
            ),
            "chained": chained,
            "source_arn": caller.arn,
            "role_arn": f"arn:{ctx.partition}:iam::{role.account_id}:role{role.path}{role.name}",
        },
    )
    ctx.record_role_used(role.id, now)
    out: dict[str, Any] = {
        "Credentials": credentials,
        "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": assumed_arn},
    }
    if policies or policy_arns or all_tags:
        out["PackedPolicySize"] = packed
    if inherited_source or source_identity:
        out["SourceIdentity"] = inherited_source or source_identity
    return out


# --- GetSessionToken / GetFederationToken ------------------------------------------------------------


def _long_term_only(ctx: OperationContext, action: str) -> None:
    if session_of(ctx.caller) is not None:
        raise AccessDenied(f"Cannot call {action} with session credentials")


@operation("sts", "GetSessionToken", authorization="skip", writes=False)
def get_session_token(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _long_term_only(ctx, "GetSessionToken")
    mfa_at = _verify_mfa(ctx, p)
    caller = ctx.caller
    is_root = caller.kind is PrincipalKind.ROOT
    maximum = ROOT_MAX if is_root else LONG_TERM_MAX
    duration = _duration(
        p.get("DurationSeconds"),
        ROOT_MAX if is_root else DEFAULT_LONG_TERM,
        maximum,
        f"1 validation error detected: Value '{p.get('DurationSeconds')}' at 'durationSeconds' failed to satisfy "
        f"constraint: Member must have value less than or equal to {maximum}",
    )
    now = ctx.now()
    _, credentials = _credentials(
        ctx,
        {
            "account_id": caller.account_id,
            "principal_kind": "root" if is_root else "user",
            "arn": caller.arn,
            "user_id": caller.user_id,
            "name": caller.name,
            "issued_at": now,
            "expires_at": now + duration,
            "entity_id": caller.entity_id,
            "source_arn": caller.arn,
            "mfa_authenticated_at": mfa_at,
        },
    )
    return {"Credentials": credentials}


@operation("sts", "GetFederationToken", target=federated_user("Name"), request_keys=(request_tags,), writes=False)
def get_federation_token(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    _long_term_only(ctx, "GetFederationToken")
    caller = ctx.caller
    is_root = caller.kind is PrincipalKind.ROOT
    maximum = ROOT_MAX if is_root else LONG_TERM_MAX
    duration = _duration(
        p.get("DurationSeconds"),
        ROOT_MAX if is_root else DEFAULT_LONG_TERM,
        maximum,
        f"1 validation error detected: Value '{p.get('DurationSeconds')}' at 'durationSeconds' failed to satisfy "
        f"constraint: Member must have value less than or equal to {maximum}",
    )
    policies, policy_arns = _session_policies(ctx, p, caller.account_id)
    tags = _tags(p)
    packed = _packed_size(policies, policy_arns, tags)
    if packed > 100:
        raise PackedPolicyTooLarge(
            f"Packed policy consumes {packed}% of allotted space, please use smaller policy for this session"
        )
    name: str = p["Name"]
    arn = f"arn:{ctx.partition}:sts::{caller.account_id}:federated-user/{name}"
    user_id = f"{caller.account_id}:{name}"
    now = ctx.now()
    _, credentials = _credentials(
        ctx,
        {
            "account_id": caller.account_id,
            "principal_kind": "federated-user",
            "arn": arn,
            "user_id": user_id,
            "name": name,
            "issued_at": now,
            "expires_at": now + duration,
            "entity_id": None if is_root else caller.entity_id,
            "session_policies": policies,
            "session_policy_arns": policy_arns,
            "tags": tags,
            "source_arn": caller.arn,
        },
    )
    out: dict[str, Any] = {
        "Credentials": credentials,
        "FederatedUser": {"FederatedUserId": user_id, "Arn": arn},
    }
    if policies or policy_arns or tags:
        out["PackedPolicySize"] = packed
    return out


@operation("sts", "GetAccessKeyInfo", target=any_resource)
def get_access_key_info(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    key_id: str = p["AccessKeyId"]
    account = ids.account_of_temporary_key(key_id)
    if account is None:
        row = ctx.conn.execute(sa.select(t.access_keys.c.account_id).where(t.access_keys.c.id == key_id)).first()
        if row is None:
            raise InvalidParameterValue(f"The access key ID {key_id} is not valid.")
        account = row.account_id
    return {"Account": account}


@operation("sts", "DecodeAuthorizationMessage", target=any_resource)
def decode_authorization_message(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    decoded = authz_messages.decode(ctx.box, p["EncodedMessage"])
    return {"DecodedMessage": json.dumps(decoded)}
