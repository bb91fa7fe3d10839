"""The authorization API's decisions: who signed a request a resource server received, and may they do it.

Both doors of docs/design/authorize-api.md come here: ``POST /v1/authorize`` (the resource server
forwards the parts of the request) and forward-auth (a reverse proxy asks).  The forwarded request
is authenticated by iamd's own SigV4 verifier and caller resolution (:mod:`iamd.services.callers`),
or by a console session cookie; the decision is the generic authorizer's
(:meth:`iamd.services.authz.Authorizer.decide`) with the caller's identity policies, boundary and
session policies, the SCP levels of the caller's account and the RCP levels of the resource's
account (:mod:`iamd.orgs.levels`), the resource policy given, and the cross-account rule.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from iamd.auth.session_tokens import session_of
from iamd.core.errors import (
    AwsError,
    InvalidClientTokenId,
    MalformedPolicyDocument,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
    ValidationException,
)
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal, PrincipalKind
from iamd.orgs.levels import OrgStanding, OrgStandingCache, organization_inputs
from iamd.orgs.policy_types import AWS_MANAGED
from iamd.policy import CompiledPolicy, Decision, Effect, PolicyKind, access_denied_message, compile_policy
from iamd.policy.model import MatchedStatement, PolicyType
from iamd.services.callers import Caller, resolve_caller
from iamd.services.console import identity as console_identity
from iamd.services.console import sessions as console_sessions
from iamd.services.runtime import Runtime
from iamd.store import tables as t

ALLOW = "Allow"
EXPLICIT_DENY = "ExplicitDeny"
IMPLICIT_DENY = "ImplicitDeny"
UNAUTHENTICATED = "Unauthenticated"

RESOURCE_POLICY_ID = "resource"
"""The policy id of the resource policy a call gives (``matchedStatements[].policyId``)."""

DERIVED_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalType",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList",
        "aws:userid",
        "aws:username",
        "aws:SourceIp",
        "aws:SecureTransport",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:MultiFactorAuthPresent",
        "aws:MultiFactorAuthAge",
        "aws:TokenIssueTime",
        "aws:SourceIdentity",
        "aws:FederatedProvider",
        "aws:ResourceAccount",
        "aws:ResourceOrgID",
        "aws:ResourceOrgPaths",
        "aws:ViaAWSService",
        "aws:CalledVia",
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
    )
)
"""Condition keys iamd derives from the request and the principal: a call cannot set them."""
DERIVED_PREFIXES = ("aws:principaltag/", "aws:resourcetag/")

_TYPE_NAMES = {
    PrincipalKind.ROOT: "Root",
    PrincipalKind.USER: "IAMUser",
    PrincipalKind.ASSUMED_ROLE: "AssumedRole",
    PrincipalKind.FEDERATED_USER: "FederatedUser",
}
_LAYER_WORDS = {
    PolicyType.SERVICE_CONTROL: "SCP",
    PolicyType.RESOURCE_CONTROL: "RCP",
    PolicyType.RESOURCE: "the resource policy",
    PolicyType.IDENTITY: "identity-based policy",
    PolicyType.PERMISSIONS_BOUNDARY: "permissions boundary",
    PolicyType.SESSION: "session policy",
}
_LEVEL = re.compile(r"level (\d+)")


@dataclass(frozen=True, slots=True)
class Question:
    """What a resource server asks about: one action on one resource."""

    action: str
    resource: str
    resource_account: str | None = None
    resource_policy: str | None = None
    resource_policy_required: bool = False
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    source_ip: str | None = None
    secure_transport: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer, in the API's terms (``decision`` as the OpenAPI file names it)."""

    decision: str
    principal: Principal | None = None
    result: Decision | None = None
    authentication_error: AwsError | None = None
    resource_account: str | None = None
    statements: tuple[dict[str, Any], ...] = ()
    denied_by: str | None = None
    message: str | None = None
    explanation: str = ""
    secrets: tuple[str, ...] = ()
    """Secrets of the forwarded request's key (scrubbed from any audit record)."""

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    @property
    def metric_result(self) -> str:
        """``allow``, ``explicit_deny``, ``implicit_deny`` or ``unauthenticated``."""
        return {ALLOW: "allow", EXPLICIT_DENY: "explicit_deny", IMPLICIT_DENY: "implicit_deny"}.get(
            self.decision, "unauthenticated"
        )


def unauthenticated(error: AwsError) -> Outcome:
    return Outcome(UNAUTHENTICATED, authentication_error=error, explanation=f"not authenticated: {error.code}")


def check_context_keys(context: Mapping[str, Any], where: str = "context") -> None:
    """Refuse condition keys iamd derives itself (they would let a caller claim another source or principal)."""
    for key in context:
        lower = key.lower()
        if lower in DERIVED_KEYS or lower.startswith(DERIVED_PREFIXES):
            raise ValidationException(
                f"{where}: the condition key {key} is set by iamd from the request and the principal; "
                "it cannot be given"
                + (" (give resource tags in resourceTags)" if lower.startswith("aws:resourcetag/") else "")
            )


class AuthorizeService:
    """One per node: organization standings and names per cache generation, the rest is the runtime's."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.standings = OrgStandingCache(rt.db)
        rt.watcher.subscribe(self.standings.clear)
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        rt.watcher.subscribe(self._clear_names)

    def _clear_names(self) -> None:
        with self._lock:
            self._names = {}

    # -- authentication ---------------------------------------------------------------------------

    def authenticate(self, request: HttpRequest, payload_hash: str | None) -> Caller:
        """The signer of a request iamd did not receive; raises AWS's authentication errors."""
        try:
            info = self.rt.verifier.parse(request)
        except SignatureDoesNotMatch as exc:
            if "X-Amz-Expires" in request.query_string and exc.message.startswith("Signature expired"):
                raise _RequestExpired("Request has expired") from exc
            raise
        if info is None:
            raise MissingAuthenticationToken("The request carries no AWS Signature Version 4 authentication")
        return resolve_caller(self.rt, request, info, payload_hash=payload_hash)

    def console_principal(self, token: str) -> Principal:
        """Who a console session cookie acts as (the user, root or the role switched into)."""
        rt = self.rt
        with rt.db.read() as conn:
            session = console_sessions.load(conn, token, rt.clock.time())
            if session is None or session.state != console_sessions.ACTIVE:
                raise InvalidClientTokenId("The console session is not signed in (unknown, signed out or expired)")
            identity = console_identity.identity_of(conn, rt, session)
        if identity is None:
            raise InvalidClientTokenId("The console session's user no longer exists")
        return identity.principal

    # -- the decision ----------------------------------------------------------------------------------

    def decide(self, caller: Principal, question: Question) -> Outcome:
        rt = self.rt
        resource_account = question.resource_account or _arn_account(question.resource) or caller.account_id
        context: dict[str, str | Sequence[str]] = dict(question.context)
        for key, value in question.resource_tags.items():
            context[f"aws:ResourceTag/{key}"] = value
        context["aws:SecureTransport"] = "true" if question.secure_transport else "false"
        if question.source_ip:
            context["aws:SourceIp"] = question.source_ip
        principal_standing = self.standings.standing(caller.account_id)
        resource_standing = (
            principal_standing if resource_account == caller.account_id else self.standings.standing(resource_account)
        )
        organization = organization_inputs(principal_standing, resource_standing)
        decision = rt.authorizer.decide(
            caller,
            question.action,
            question.resource,
            context,
            resource_policy=resource_policy(question.resource_policy),
            resource_account=resource_account,
            resource_policy_required=question.resource_policy_required,
            organization=organization,
        )
        return self._outcome(caller, question, decision, resource_account, principal_standing, resource_standing)

    def _outcome(
        self,
        caller: Principal,
        question: Question,
        decision: Decision,
        resource_account: str,
        principal_standing: OrgStanding | None,
        resource_standing: OrgStanding | None,
    ) -> Outcome:
        statements = tuple(self._statement_json(s, principal_standing, resource_standing) for s in decision.statements)
        if decision.effect is Effect.ALLOW:
            words = "; ".join(
                self._statement_words(s, principal_standing, resource_standing) for s in decision.statements
            )
            explanation = f"allowed by {words}" if words else f"allowed: {decision.detail or decision.explanation}"
            return Outcome(
                ALLOW,
                caller,
                decision,
                resource_account=resource_account,
                statements=statements,
                explanation=explanation,
            )
        message = access_denied_message(caller.arn, question.action, question.resource, decision)
        if decision.effect is Effect.EXPLICIT_DENY:
            words = "; ".join(
                self._statement_words(s, principal_standing, resource_standing) for s in decision.statements
            )
            explanation = f"denied by {words}" if words else decision.explanation
            kind = EXPLICIT_DENY
        else:
            explanation = self._implicit_words(decision, question, principal_standing, resource_standing)
            kind = IMPLICIT_DENY
        return Outcome(
            kind,
            caller,
            decision,
            resource_account=resource_account,
            statements=statements,
            denied_by=decision.policy_type.key if decision.policy_type is not None else None,
            message=message,
            explanation=explanation,
        )

    # -- words ---------------------------------------------------------------------------------------------

    def _words(self, decision: Decision, principal: OrgStanding | None, resource: OrgStanding | None) -> str:
        return "; ".join(self._statement_words(s, principal, resource) for s in decision.statements)

    def _attachment(
        self, statement: MatchedStatement, principal: OrgStanding | None, resource: OrgStanding | None
    ) -> str | None:
        """The root, OU or account an SCP/RCP statement's level stands for."""
        if statement.level is None:
            return None
        standing = principal if statement.policy_type is PolicyType.SERVICE_CONTROL else resource
        return _level_node(standing, statement.level)

    def _statement_json(
        self, statement: MatchedStatement, principal: OrgStanding | None, resource: OrgStanding | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policyType": statement.policy_type.key,
            "policyId": statement.policy_id,
            "sid": statement.sid,
            "statementIndex": statement.statement_index,
            "effect": statement.effect,
        }
        if statement.policy_type in (PolicyType.SERVICE_CONTROL, PolicyType.RESOURCE_CONTROL):
            out["policyName"] = self._name(statement.policy_id)
        if statement.level is not None:
            out["level"] = statement.level
            node = self._attachment(statement, principal, resource)
            if node is not None:
                out["attachedTo"] = node
        return out

    def _statement_words(
        self, statement: MatchedStatement, principal: OrgStanding | None, resource: OrgStanding | None
    ) -> str:
        which = f"statement `{statement.sid}`" if statement.sid else f"statement {statement.statement_index}"
        layer = _LAYER_WORDS[statement.policy_type]
        if statement.policy_type is PolicyType.RESOURCE:
            return f"{which} in {layer}"
        if statement.policy_type in (PolicyType.SERVICE_CONTROL, PolicyType.RESOURCE_CONTROL):
            text = f"{which} in {layer} `{self._name(statement.policy_id)}`"
            node = self._attachment(statement, principal, resource)
            return f"{text} attached to {self._node_words(node)}" if node is not None else text
        return f"{which} in {layer} `{statement.policy_id}`"

    def _implicit_words(
        self,
        decision: Decision,
        question: Question,
        principal: OrgStanding | None,
        resource: OrgStanding | None,
    ) -> str:
        ptype = decision.policy_type
        target = f"{question.action} on {question.resource}"
        if ptype in (PolicyType.SERVICE_CONTROL, PolicyType.RESOURCE_CONTROL):
            layer = _LAYER_WORDS[ptype]
            found = _LEVEL.search(decision.detail)
            standing = principal if ptype is PolicyType.SERVICE_CONTROL else resource
            node = _level_node(standing, int(found.group(1))) if found else None
            where = f" attached to {self._node_words(node)}" if node is not None else ""
            return f"denied because no {layer}{where} allows {target}"
        if ptype is PolicyType.RESOURCE:
            return f"denied because the resource policy does not allow {target} (it must, for this resource)"
        if ptype is None:
            return f"denied: {decision.explanation}"
        text = f"denied because no {ptype.value} allows {target}"
        return f"{text} ({decision.detail})" if decision.detail else text

    def _node_words(self, node: str) -> str:
        if node.startswith("r-"):
            return f"root `{self._name(node)}`"
        if node.startswith("ou-"):
            return f"OU `{self._name(node)}`"
        return f"account `{node}`"

    def _name(self, ident: str) -> str:
        """The name of an organization policy, root or OU (its id when it is gone)."""
        hit = self._names.get(ident)
        if hit is not None:
            return hit
        managed = AWS_MANAGED.get(ident)
        name: str | None = managed.name if managed is not None else None
        if name is None:
            table = (
                t.org_units if ident.startswith("ou-") else t.org_roots if ident.startswith("r-") else t.org_policies
            )
            with self.rt.db.read() as conn:
                name = conn.execute(sa.select(table.c.name).where(table.c.id == ident)).scalar()
        with self._lock:
            self._names[ident] = name or ident
        return name or ident

    # -- the principal ------------------------------------------------------------------------------------

    def principal_json(self, caller: Principal) -> dict[str, Any]:
        """``principal`` of the answer: ARN, account, type, ``aws:userid``, name, tags, session."""
        rt = self.rt
        claims = session_of(caller)
        tags: dict[str, str] = {}
        if caller.entity_id and caller.kind in (PrincipalKind.USER, PrincipalKind.FEDERATED_USER):
            tags.update(rt.principal_policies.for_user(caller.entity_id).tags)
        elif caller.entity_id and caller.kind is PrincipalKind.ASSUMED_ROLE:
            tags.update(rt.principal_policies.for_role(caller.entity_id).tags)
        out: dict[str, Any] = {
            "arn": caller.arn,
            "accountId": caller.account_id,
            "type": _TYPE_NAMES[caller.kind],
            "userId": caller.user_id,
            "name": caller.name,
        }
        if claims is not None:
            tags.update(claims.tags)
            session: dict[str, Any] = {}
            session_name = caller.session_name or claims.session_name
            if session_name:
                session["name"] = session_name
            issuer = claims.role_arn or claims.source_arn
            if issuer:
                session["issuer"] = issuer
            session["issuedAt"] = _iso(claims.issued_at)
            session["expiresAt"] = _iso(claims.expires_at)
            session["mfaAuthenticated"] = claims.mfa_authenticated_at is not None
            if claims.source_identity:
                session["sourceIdentity"] = claims.source_identity
            if claims.console:
                session["console"] = True
            out["session"] = session
        out["tags"] = tags
        return out


class _RequestExpired(AwsError):
    """A presigned URL past its expiry, as AWS answers it (``AccessDenied`` ``Request has expired``)."""

    code = "AccessDenied"
    status = 403


def _level_node(standing: OrgStanding | None, level: int) -> str | None:
    if standing is None:
        return None
    nodes = [*standing.path.strip("/").split("/")[1:], standing.account_id]
    return nodes[level] if 0 <= level < len(nodes) else None


def _arn_account(resource: str) -> str | None:
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and re.fullmatch(r"\d{12}", parts[4]):
        return parts[4]
    return None


def resource_policy(text: str | None) -> CompiledPolicy | None:
    if text is None:
        return None
    try:
        return compile_policy(text, policy_id=RESOURCE_POLICY_ID, kind=PolicyKind.RESOURCE)
    except MalformedPolicyDocument as exc:
        raise ValidationException(f"resourcePolicy: {exc.message}") from exc


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
