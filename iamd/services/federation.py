"""STS federation: AssumeRoleWithWebIdentity and AssumeRoleWithSAML (unsigned, as AWS accepts them).

The token or the assertion is the credential: stage 1's verifiers (``iamd.auth.oidc``,
``iamd.auth.saml``) check it against the IAM provider of the role's account, then the role's trust
policy decides with the provider as the ``Federated`` principal and the provider's condition keys
(``PROVIDER:sub``/``:aud``/``:oaud``/``:amr``, ``saml:*``) in the request context.  The session token
carries the keys the session's own requests see (``SessionClaims.federated_context``).

A SAML assertion is accepted once: its (provider, assertion id) row goes into ``federation_replay``
after every other check passed, in its own short transaction shared by every node.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Row

from iamd.auth.oidc import OidcProvider, VerificationSettings, issuer_url, provider_url_of, verify_web_identity_token
from iamd.auth.saml import (
    AWS_AUDIENCES,
    AWS_SIGNIN_SAML,
    REPLAYED,
    SamlProviderTrust,
    SamlSettings,
    select_role,
    verify_saml_response,
)
from iamd.auth.saml_metadata import SamlMetadata, parse_saml_metadata
from iamd.core.arn import try_parse
from iamd.core.errors import (
    AccessDenied,
    InvalidIdentityToken,
    InvalidParameterValue,
    ValidationError,
)
from iamd.policy import (
    Effect,
    EvaluationRequest,
    PolicyKind,
    PrincipalDescriptor,
    PrincipalType,
    authorize,
    compile_policy,
)
from iamd.services.context import OperationContext
from iamd.services.iam.identity_providers import (
    client_ids_of,
    find_oidc_provider,
    find_saml_provider,
    oidc_arn,
    saml_private_keys,
)
from iamd.services.registry import operation
from iamd.services.sts import _duration, _session_policies, role_session
from iamd.services.targets import arn_param, find_role_by_arn
from iamd.store import tables as t
from iamd.store.db import insert_ignore

log = logging.getLogger("iamd.federation")

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
SAML_ACTION = "sts:AssumeRoleWithSAML"
MAX_DURATION_MESSAGE = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


def _not_authorized(action: str) -> str:
    return f"Not authorized to perform {action}"


def _role_account(role_arn: str) -> str:
    """The account of RoleArn (where the provider must be); ValidationError unless it is a role ARN."""
    parsed = try_parse(role_arn)
    if parsed is None or parsed.service != "iam" or not parsed.resource.startswith("role/"):
        raise ValidationError(f"{role_arn} is invalid")
    return parsed.account


def _role(ctx: OperationContext, role_arn: str, action: str) -> Row[Any]:
    """The role, looked up only once the token or assertion verified (no role names are revealed before)."""
    try:
        role: Row[Any] = find_role_by_arn(ctx.conn, ctx.partition, ctx.caller, role_arn)
    except AccessDenied:
        raise AccessDenied(_not_authorized(action)) from None
    return role


@dataclass(frozen=True)
class FederatedSession:
    """What a verified token or assertion asks for, in the shape the trust decision and the session need."""

    action: str
    principal: PrincipalDescriptor
    provider_arn: str
    session_name: str
    trust_context: Mapping[str, str | Sequence[str]]
    """The provider's condition keys for the trust policy (``PROVIDER:*``, ``saml:*``)."""
    session_context: Mapping[str, str | list[str]]
    """The keys the session's own requests carry."""
    tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    max_duration: int | None = None
    """A cap below the role's maximum (SAML's SessionDuration attribute)."""


def _trust_check(ctx: OperationContext, role: Row[Any], role_arn: str, fed: FederatedSession, action: str) -> None:
    context: dict[str, str | Sequence[str]] = {
        **ctx.request_context,
        **fed.trust_context,
        "aws:FederatedProvider": fed.provider_arn,
        "sts:RoleSessionName": fed.session_name,
    }
    if fed.tags:
        for key, value in fed.tags.items():
            context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"] = list(fed.tags)
    if fed.transitive_tag_keys:
        context["sts:TransitiveTagKeys"] = list(fed.transitive_tag_keys)
    if fed.source_identity is not None:
        context["sts:SourceIdentity"] = fed.source_identity
    trust = compile_policy(role.trust_policy, policy_id=f"{role_arn} trust policy", kind=PolicyKind.TRUST)
    decision = authorize(
        EvaluationRequest(
            principal=fed.principal,
            action=action,
            resource=role_arn,
            context=context,
            resource_policy=trust,
            resource_account=role.account_id,
            resource_policy_required=True,
            now=ctx.now(),
        )
    )
    if decision.effect is not Effect.ALLOW:
        log.info("%s refused by the trust policy of %s for %s", fed.action, role_arn, fed.provider_arn)
        raise AccessDenied(_not_authorized(fed.action))


def _issue(
    ctx: OperationContext, p: Mapping[str, Any], role: Row[Any], role_arn: str, fed: FederatedSession
) -> dict[str, Any]:
    """Trust decision (the action, then sts:TagSession / sts:SetSourceIdentity as needed) and credentials."""
    duration = _duration(p.get("DurationSeconds"), 3600, role.max_session_duration, MAX_DURATION_MESSAGE)
    if fed.max_duration is not None:
        duration = min(duration, fed.max_duration)
    policies, policy_arns = _session_policies(ctx, p, role.account_id)
    _trust_check(ctx, role, role_arn, fed, fed.action)
    if fed.tags or fed.transitive_tag_keys:
        _trust_check(ctx, role, role_arn, fed, "sts:TagSession")
    if fed.source_identity is not None:
        _trust_check(ctx, role, role_arn, fed, "sts:SetSourceIdentity")
    ctx.authorized = True  # the declared authorization, done here (see the operations' declarations)
    return role_session(
        ctx,
        role,
        fed.session_name,
        duration,
        policies,
        policy_arns,
        fed.tags,
        source_arn=fed.provider_arn,
        transitive_tag_keys=fed.transitive_tag_keys,
        source_identity=fed.source_identity,
        federated_context={**fed.session_context, "aws:FederatedProvider": fed.provider_arn},
    )


# --- AssumeRoleWithWebIdentity -------------------------------------------------------------------------

_PROVIDER_SEEN: dict[tuple[str, str], tuple[str, str]] = {}
"""(account, provider URL) -> (row id, thumbprints) this node last verified tokens for."""


def _forget_keys_of_replaced_provider(ctx: OperationContext, row: Row[Any]) -> None:
    """Every node drops the cached keys of a provider deleted and created again, or whose thumbprints
    changed, the first time it meets it (the node that made the change forgot them at once)."""
    key, seen = (row.account_id, row.url), (row.id, row.thumbprints)
    previous = _PROVIDER_SEEN.get(key)
    if previous != seen:
        if previous is not None:
            ctx.services.jwks.forget(issuer_url(row.url))
        _PROVIDER_SEEN[key] = seen


# Both operations are called without a signature and authorized against the role (its trust policy) by the
# handler: the caller is the verified token's or assertion's provider, which the generic authorizer (it
# describes signed callers) cannot represent, so ``_issue`` decides with the engine and marks the request
# authorized.


@operation(
    "sts",
    "AssumeRoleWithWebIdentity",
    target=arn_param("RoleArn"),
    unsigned=True,
    authorization="handler",
    writes=False,
)
def assume_role_with_web_identity(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    if p.get("ProviderId"):
        # OAuth 2.0 access tokens of Login with Amazon / Facebook are checked by calling those services;
        # iamd verifies OpenID Connect ID tokens only.
        raise InvalidParameterValue(
            "iamd accepts OpenID Connect ID tokens only: ProviderId (OAuth 2.0 access tokens) is not supported"
        )
    role_arn: str = p["RoleArn"]
    account = _role_account(role_arn)
    token: str = p["WebIdentityToken"]
    url = provider_url_of(token)
    row = find_oidc_provider(ctx.conn, account, ctx.partition, url)
    if row is None:
        raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {issuer_url(url)}")
    provider_arn = oidc_arn(ctx.partition, account, row.url)
    _forget_keys_of_replaced_provider(ctx, row)
    settings = VerificationSettings(leeway_seconds=ctx.services.federation.leeway_seconds)
    claims = verify_web_identity_token(
        token, OidcProvider(row.url, tuple(client_ids_of(row)), provider_arn), ctx.services.jwks, ctx.now(), settings
    )
    role = _role(ctx, role_arn, WEB_IDENTITY_ACTION)
    keys = claims.condition_keys()
    fed = FederatedSession(
        action=WEB_IDENTITY_ACTION,
        principal=PrincipalDescriptor(
            type=PrincipalType.WEB_IDENTITY,
            arn=provider_arn,
            partition=ctx.partition,
            federated_provider=provider_arn,
            tags=dict(claims.principal_tags),
            source_identity=claims.source_identity,
        ),
        provider_arn=provider_arn,
        session_name=p["RoleSessionName"],
        trust_context=keys,
        session_context=keys,
        tags=claims.principal_tags,
        transitive_tag_keys=claims.transitive_tag_keys,
        source_identity=claims.source_identity,
    )
    out = _issue(ctx, p, role, role_arn, fed)
    out.update(SubjectFromWebIdentityToken=claims.subject, Provider=provider_arn, Audience=claims.audience)
    return out


# --- AssumeRoleWithSAML ----------------------------------------------------------------------------------


_METADATA: dict[tuple[str, float], SamlMetadata] = {}
"""Parsed metadata by (provider id, update time): parsed once per version, not the document as key."""


def _metadata(row: Row[Any]) -> SamlMetadata:
    key = (row.id, row.updated_at)
    meta = _METADATA.get(key)
    if meta is None:
        meta = parse_saml_metadata(row.metadata_document)
        if len(_METADATA) >= 256:
            _METADATA.clear()
        _METADATA[key] = meta
    return meta


@lru_cache(maxsize=64)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    """A provider's decryption key (checked to be RSA when it was added), loaded once."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _saml_settings(ctx: OperationContext) -> SamlSettings:
    f = ctx.services.federation
    return SamlSettings(
        accepted_recipients=(AWS_SIGNIN_SAML, *f.saml_recipients),
        accepted_audiences=(*AWS_AUDIENCES, *f.saml_audiences),
        leeway_seconds=f.leeway_seconds,
        allow_sha1=f.saml_allow_sha1,
    )


def _redeem(ctx: OperationContext, provider_arn: str, assertion_id: str, expires_at: float) -> None:
    """Record the assertion as used, on every node at once (its own transaction); refuse a second use."""
    now = ctx.now()
    replay = t.federation_replay
    with ctx.side_transaction() as conn:
        conn.execute(replay.delete().where(replay.c.expires_at < now))
        inserted = insert_ignore(
            conn,
            replay,
            {"provider_arn": provider_arn, "assertion_id": assertion_id, "expires_at": max(expires_at, now) + 60},
        )
    if not inserted:
        log.warning("replayed SAML assertion %s for %s refused", assertion_id, provider_arn)
        raise InvalidIdentityToken(REPLAYED)


@operation(
    "sts", "AssumeRoleWithSAML", target=arn_param("RoleArn"), unsigned=True, authorization="handler", writes=False
)
def assume_role_with_saml(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    role_arn: str = p["RoleArn"]
    principal_arn: str = p["PrincipalArn"]
    account = _role_account(role_arn)
    row = find_saml_provider(ctx.conn, account, ctx.partition, principal_arn)
    if row is None:
        raise InvalidIdentityToken(f"SAML provider {principal_arn} does not exist in the role's account")
    meta = _metadata(row)
    trust = SamlProviderTrust(
        principal_arn,
        meta.entity_id,
        meta.signing_certificates,
        decryption_keys=tuple(_private_key(pem) for pem in saml_private_keys(ctx, row.id)),
        encryption_required=row.encryption_mode == "Required",
    )
    assertion = verify_saml_response(p["SAMLAssertion"], trust, ctx.now(), _saml_settings(ctx))
    select_role(assertion, role_arn, principal_arn)
    role = _role(ctx, role_arn, SAML_ACTION)
    attributes = assertion.attributes
    keys = assertion.condition_keys()
    session_keys = {k: v for k, v in keys.items() if k in ("saml:sub", "saml:sub_type", "saml:namequalifier")}
    fed = FederatedSession(
        action=SAML_ACTION,
        principal=PrincipalDescriptor(
            type=PrincipalType.SAML,
            arn=principal_arn,
            partition=ctx.partition,
            federated_provider=principal_arn,
            tags=dict(attributes.principal_tags),
            source_identity=attributes.source_identity,
        ),
        provider_arn=principal_arn,
        session_name=attributes.role_session_name,
        trust_context=keys,
        session_context=session_keys,
        tags=attributes.principal_tags,
        transitive_tag_keys=attributes.transitive_tag_keys,
        source_identity=attributes.source_identity,
        max_duration=attributes.session_duration,
    )
    out = _issue(ctx, p, role, role_arn, fed)
    _redeem(ctx, principal_arn, assertion.assertion_id, assertion.expires_at)
    out.update(
        Subject=assertion.subject,
        SubjectType=assertion.subject_type,
        Issuer=assertion.issuer,
        Audience=assertion.recipient,
        NameQualifier=assertion.name_qualifier,
    )
    return out
