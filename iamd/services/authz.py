"""Authorization of every API call with the policy engine.

Generic: what an operation is checked against (its action, the resource ARN AWS's Service
Authorization Reference gives it, the request's condition keys, a resource-based policy) is
declared on the operation itself (``services/registry.py``, builders in ``services/targets.py``);
nothing here names an operation but AWS's cross-cutting rules (GetSessionToken credentials, the
self-service password exception).  The caller's policies come from the store through a
per-generation cache; the engine (pure) decides.  The account root is not limited by identity
policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import SessionClaims, session_of
from iamd.core.clock import Clock, SystemClock, iso8601
from iamd.core.crypto import SecretBox
from iamd.core.errors import AccessDenied
from iamd.core.principal import Principal, PrincipalKind
from iamd.orgs.levels import NO_ORGANIZATION, OrgInputs, OrgStanding, OrgStandingCache, organization_inputs
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
from iamd.services.service_principals import source_account
from iamd.services.targets import Target, TargetQuery

if TYPE_CHECKING:
    from iamd.services.registry import Operation

_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'

# What sessions from GetSessionToken may call: IAM only with MFA; STS only these two.
_SESSION_TOKEN_STS_ACTIONS = frozenset({"AssumeRole", "GetCallerIdentity"})


def session_context(claims: SessionClaims | None, now: float) -> dict[str, str | Sequence[str]]:
    """Condition keys that come from the caller's session (temporary credentials)."""
    if claims is None:
        return {}
    out: dict[str, str | Sequence[str]] = {
        **claims.federated_context,
        **claims.context,
        "aws:TokenIssueTime": iso8601(claims.issued_at),
    }
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
        clock: Clock | None = None,
        standings: OrgStandingCache | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._policies = policies
        self._managed = managed
        self._standings = standings
        """Organizations: SCP and RCP levels and the organization condition keys (None: no organizations)."""
        self._partition = partition
        self._message_box = message_box
        """When set, AccessDenied answers carry an encoded authorization message."""

    def authorize_operation(
        self,
        conn: Connection,
        operation: Operation,
        caller: Principal,
        params: Mapping[str, Any],
        request_context: Mapping[str, str | Sequence[str]],
        established: Mapping[str, str | Sequence[str]] | None = None,
        region: str = "",
    ) -> None:
        """Authorize one call of ``operation`` as its declaration says; AccessDenied when refused.

        The resource is the declared target; the context is the request's global keys, the
        target's tags, the declared request keys and what the handler ``established``; the
        declared resource policy (a trust policy) joins the decision; each declared extra action
        (sts:TagSession ...) is checked the same way.
        """
        claims = session_of(caller)
        if claims is not None and claims.principal_kind in ("user", "root") and not claims.console:
            _check_session_token_limits(claims, operation.service, operation.name)
        if caller.kind is PrincipalKind.ROOT and not self._scps_apply(caller.account_id):
            return  # a root user is limited by SCPs only (and those of a member account only)
        query = TargetQuery(conn, caller, self._partition, params, region)
        target = self.target(operation, query)
        resource_policy = operation.resource_policy(query) if operation.resource_policy is not None else None
        context: dict[str, str | Sequence[str]] = dict(request_context)
        for key, value in target.tags.items():
            context[f"aws:ResourceTag/{key}"] = value
            context[f"iam:ResourceTag/{key}"] = value
        context.update(target.context)
        for keys in operation.request_keys:
            context.update(keys(params))
        if established:
            context.update(established)
        actions = [operation.action] + [a for extra in operation.extra_actions if (a := extra(query)) is not None]
        checks = [(action, resource) for action in actions for resource in (target.resource, *target.also)]
        for action, resource in checks:
            decision = self.decide(
                caller,
                action,
                resource,
                context,
                resource_policy=resource_policy.policy if resource_policy else None,
                resource_account=resource_policy.account if resource_policy else None,
                resource_policy_required=resource_policy.required if resource_policy else False,
                resource_service_linked=resource_policy.service_linked if resource_policy else False,
            )
            if decision.effect is Effect.ALLOW or _self_service_exception(conn, caller, operation.name):
                continue
            message = access_denied_message(caller.arn, action, resource, decision)
            # AWS encodes the failure for identity-policy decisions; a trust policy's refusal is plain.
            if self._message_box is not None and resource_policy is None:
                blob = authz_messages.encode(self._message_box, caller, action, resource, decision, context)
                message += f". Encoded authorization failure message: {blob}"
            raise AccessDenied(message)

    def target(self, operation: Operation, query: TargetQuery) -> Target:
        """The declared target of ``operation`` for this request."""
        if operation.target is None:
            raise RuntimeError(f"{operation.action} declares no authorization target")
        target = operation.target(query)
        if target is None:
            raise RuntimeError(f"{operation.action}: its declared target found none of its parameters")
        return target

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
        resource_service_linked: bool = False,
        organization: OrgInputs | None = None,
    ) -> Decision:
        """The engine's decision for ``caller`` doing ``action`` on ``resource`` (no exception).

        Organizations: the SCP levels of the caller's account and the RCP levels of the resource's
        (``resource_account``, else the caller's), with the organization condition keys; a
        service-linked role as the resource (``resource_service_linked``: AssumeRole of one) gets no
        RCPs ("RCPs also do not impact AWS services' ability to assume a service-linked role").
        ``organization``: the levels and keys when the caller has them already (the authorization API).
        """
        now = self._clock.time()
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
        org = organization or self.organization_inputs(caller.account_id, resource_account or caller.account_id)
        full_context: dict[str, str | Sequence[str]] = {**session_context(claims, now), **context, **org.context}
        if caller.kind is PrincipalKind.SERVICE:
            full_context.update(self._source_organization(context))
        principal = from_core_principal(
            caller,
            tags=tags,
            unique_id=caller.entity_id,
            role_arn=role_arn,
            source_identity=source_identity,
            service_linked_role=policies.service_linked,
            in_management_account=org.in_management_account,
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
            service_control_policies=org.service_control_policies,
            resource_control_policies=() if resource_service_linked else org.resource_control_policies,
            resource_in_management_account=org.resource_in_management_account,
            now=now,
        )
        return authorize(request)

    def standing(self, account_id: str) -> OrgStanding | None:
        """The account's place in an organization (cached per generation), or None."""
        return self._standings.standing(account_id) if self._standings is not None and account_id else None

    def organization_inputs(self, principal_account: str, resource_account: str) -> OrgInputs:
        """What Organizations adds to a request by a principal of ``principal_account`` on a resource of
        ``resource_account`` (cached per generation: no database read on the hot path)."""
        if self._standings is None:
            return NO_ORGANIZATION
        principal = self.standing(principal_account)
        resource = principal if resource_account == principal_account else self.standing(resource_account)
        return organization_inputs(principal, resource)

    def _source_organization(self, context: Mapping[str, str | Sequence[str]]) -> dict[str, str | Sequence[str]]:
        """``aws:SourceOrgID`` and ``aws:SourceOrgPaths`` of a service's ``aws:SourceAccount``."""
        account = source_account(context)
        standing = self.standing(account) if account else None
        if standing is None:
            return {}
        return {"aws:SourceOrgID": standing.organization_id, "aws:SourceOrgPaths": (standing.path,)}

    def _scps_apply(self, account_id: str) -> bool:
        """Whether the account is a member (not the management account) of an organization with SCPs."""
        standing = self.standing(account_id)
        return standing is not None and not standing.is_management and bool(standing.scp_levels)

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
