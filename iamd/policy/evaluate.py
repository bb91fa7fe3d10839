"""The decision logic, as AWS documents it ("Policy evaluation logic", "Cross-account policy
evaluation logic", "Session policies").

1. Deny evaluation: an applicable Deny in any policy that applies to the request (SCPs, RCPs, the
   resource-based policy, identity-based policies, permissions boundaries, session policies) is an
   explicit deny.
2. RCPs (resources outside the management account; not for service-linked roles; only actions of
   the services that support RCPs, and never ``kms:RetireGrant``): every level must have an
   applicable Allow.  They apply to every other caller, service principals and anonymous callers
   included.
3. SCPs (principals of member accounts, root included; not service-linked roles): every level
   must have an applicable Allow.
4. Resource-based policy.  Same account: an Allow that names the caller itself (its own ARN, the
   session ARN, ``*``) grants on its own; one that names the role (for a role session) or the IAM
   user (for a federated user) stands in for the identity-based policy but stays limited by
   boundaries and session policies; one that names only the account delegates to it.  Cross
   account: the resource policy must allow, and so must the caller's own account (identity-based
   policies, boundary, session policies).
5. Identity-based policies: at least one applicable Allow.
6. Permissions boundaries: an applicable Allow (several boundary policies: each must allow).
7. Session policies: role sessions and federated users; an applicable Allow in one of them.  A
   federated user without a session policy has no permissions; a role session without one is
   not limited.

The account root user has full access in its own account (only SCPs, RCPs and explicit denies in
resource policies limit it); service principals, web identity / SAML callers and anonymous callers
have no identity-based policies, so only a resource-based policy can allow them.
"""

from __future__ import annotations

from collections.abc import Sequence

from iamd.policy.compile import CompiledPolicy, CompiledStatement, PolicyBody
from iamd.policy.context import EvalContext
from iamd.policy.model import (
    Decision,
    Effect,
    EvaluationRequest,
    MatchedStatement,
    MatchKind,
    PolicyType,
    PrincipalType,
)

_DENY_ORDER = (
    PolicyType.SERVICE_CONTROL,
    PolicyType.RESOURCE_CONTROL,
    PolicyType.RESOURCE,
    PolicyType.IDENTITY,
    PolicyType.PERMISSIONS_BOUNDARY,
    PolicyType.SESSION,
)

RCP_SERVICES = frozenset(
    {
        "aoss",
        "appconfig",
        "appstream",
        "autoscaling",
        "autoscaling-plans",
        "budgets",
        "clouddirectory",
        "cloudfront",
        "cloudsearch",
        "cloudtrail-data",
        "codeartifact",
        "codebuild",
        "codecommit",
        "codepipeline",
        "cognito-identity",
        "cognito-idp",
        "comprehend",
        "comprehendmedical",
        "compute-optimizer",
        "cost-optimization-hub",
        "dax",
        "dsql",
        "dynamodb",
        "ecr",
        "ecr-public",
        "events",
        "firehose",
        "fis",
        "fms",
        "gamelift",
        "health",
        "inspector-scan",
        "kendra",
        "kinesisvideo",
        "kms",
        "logs",
        "memorydb",
        "networkmonitor",
        "notifications",
        "opensearch",
        "pca-connector-ad",
        "personalize",
        "polly",
        "pricing",
        "resource-groups",
        "rolesanywhere",
        "s3",
        "secretsmanager",
        "servicediscovery",
        "signin",
        "sqs",
        "sts",
        "support",
        "swf",
        "textract",
        "timestream-influxdb",
        "transcribe",
        "transfer",
        "translate",
        "wafv2",
        "workspaces",
        "xray",
    }
)
"""Service prefixes whose actions RCPs apply to ("List of AWS services that support RCPs",
Resource control policies, AWS Organizations User Guide): RCPs do not limit other services' actions."""

RCP_EXEMPT_ACTIONS = frozenset({"kms:retiregrant"})
"""Actions RCPs never limit ("RCPs do not impact the kms:RetireGrant permission", same page)."""

_Found = tuple[list[MatchedStatement], list[MatchedStatement]]
_IAM_IDENTITIES = frozenset(t for t in PrincipalType if t.is_iam_identity)
_SESSIONS = frozenset(t for t in PrincipalType if t.is_session)


_Matched = dict[tuple[CompiledStatement, str, int | None], MatchedStatement]
_MATCHED: dict[PolicyType, _Matched] = {ptype: {} for ptype in PolicyType}
"""``MatchedStatement`` records by policy type, then (statement, policy id, level): built once and
shared (they are immutable).  Organization levels repeat the same statements (``FullAWSAccess`` at
every level) in every decision, and building a frozen record costs more than checking a statement.
Bounded: a table that grows past ``_MATCHED_LIMIT`` starts over."""
_MATCHED_LIMIT = 65_536


def _matched(
    cache: _Matched, st: CompiledStatement, policy_id: str, ptype: PolicyType, level: int | None
) -> MatchedStatement:
    key = (st, policy_id, level)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _MATCHED_LIMIT:
            cache.clear()
        found = cache[key] = MatchedStatement(ptype, policy_id, st.index, st.sid, st.effect, level, st.line)
    return found


_ALLOWS_EVERYTHING: dict[PolicyBody, CompiledStatement | None] = {}


def _allows_everything(body: PolicyBody) -> CompiledStatement | None:
    """The statement of a policy that is one unconditional ``Allow`` of every action on every
    resource (``FullAWSAccess``, ``RCPFullAWSAccess``), else None; remembered per compiled body."""
    try:
        return _ALLOWS_EVERYTHING[body]
    except KeyError:
        pass
    only = body.statements[0] if len(body.statements) == 1 else None
    trivial = (
        only is not None
        and only.allow
        and only.actions.any
        and not only.not_action
        and only.resources is not None
        and only.resources.any
        and not only.not_resource
        and not only.conditions
    )
    if len(_ALLOWS_EVERYTHING) >= _MATCHED_LIMIT:
        _ALLOWS_EVERYTHING.clear()
    _ALLOWS_EVERYTHING[body] = only if trivial else None
    return _ALLOWS_EVERYTHING[body]


def _scan(
    policies: Sequence[CompiledPolicy],
    ptype: PolicyType,
    ctx: EvalContext,
    service: str,
    level: int | None = None,
) -> _Found:
    """(applicable Allow statements, applicable Deny statements) of a non-resource policy list."""
    allows: list[MatchedStatement] = []
    denies: list[MatchedStatement] = []
    cache = _MATCHED[ptype]
    for policy in policies:
        for st in policy.body.candidates(service):
            if st.applies(ctx):
                (allows if st.allow else denies).append(_matched(cache, st, policy.policy_id, ptype, level))
    return allows, denies


def _scan_resource(
    request: EvaluationRequest, ctx: EvalContext, service: str
) -> tuple[list[tuple[MatchedStatement, MatchKind]], list[MatchedStatement]]:
    allows: list[tuple[MatchedStatement, MatchKind]] = []
    denies: list[MatchedStatement] = []
    policy = request.resource_policy
    if policy is None:
        return allows, denies
    principal = request.principal
    for st in policy.body.candidates(service):
        how = st.principal_match(principal)
        if how is None or not st.applies(ctx):
            continue
        found = MatchedStatement(PolicyType.RESOURCE, policy.policy_id, st.index, st.sid, st.effect, None, st.line)
        if st.allow:
            allows.append((found, how))
        else:
            denies.append(found)
    return allows, denies


class _Evaluation:
    __slots__ = ("action", "ctx", "request", "service", "supporting")

    def __init__(self, request: EvaluationRequest) -> None:
        self.request = request
        self.action = request.action
        action_l = request.action.lower()
        self.service = action_l.split(":", 1)[0]
        principal = request.principal if request.derive_context else None
        self.ctx = EvalContext(
            request.context, principal, request.now, request.resource_account, action_l, request.resource
        )
        self.supporting: list[MatchedStatement] = []

    def implicit(self, ptype: PolicyType, detail: str) -> Decision:
        return Decision(Effect.IMPLICIT_DENY, self.action, ptype, resource=self.request.resource, detail=detail)

    def allow(self, granting: Sequence[MatchedStatement], how: str) -> Decision:
        return Decision(
            Effect.ALLOW,
            self.action,
            None,
            tuple(granting),
            tuple(self.supporting),
            resource=self.request.resource,
            detail=how,
        )

    def levels(
        self, levels: Sequence[Sequence[CompiledPolicy]], ptype: PolicyType, denies: list[MatchedStatement]
    ) -> int | None:
        """Scan organization policy levels; return the first level without an Allow (or None)."""
        missing: int | None = None
        ctx, service, supporting = self.ctx, self.service, self.supporting
        cache = _MATCHED[ptype]
        for index, level in enumerate(levels):
            allowed = False
            for policy in level:
                everything = _allows_everything(policy.body)
                if everything is not None:  # FullAWSAccess: nothing to check
                    supporting.append(_matched(cache, everything, policy.policy_id, ptype, index))
                    allowed = True
                    continue
                for st in policy.body.candidates(service):
                    if st.applies(ctx):
                        found = _matched(cache, st, policy.policy_id, ptype, index)
                        if st.allow:
                            supporting.append(found)
                            allowed = True
                        else:
                            denies.append(found)
            if not allowed and missing is None:
                missing = index
        return missing

    def run(self) -> Decision:
        request = self.request
        p = request.principal
        t = p.type
        ctx, service = self.ctx, self.service
        denies: list[MatchedStatement] = []

        scp_applies = (t in _IAM_IDENTITIES or t is PrincipalType.ROOT) and not (
            p.in_management_account or p.service_linked_role
        )
        rcp_applies = (
            not (request.resource_in_management_account or p.service_linked_role)
            and service in RCP_SERVICES
            and request.action.lower() not in RCP_EXEMPT_ACTIONS
        )
        scp_missing = rcp_missing = None
        if scp_applies:
            scp_missing = self.levels(request.service_control_policies, PolicyType.SERVICE_CONTROL, denies)
        if rcp_applies:
            rcp_missing = self.levels(request.resource_control_policies, PolicyType.RESOURCE_CONTROL, denies)
        rp_allows, rp_denies = _scan_resource(request, ctx, service)
        denies.extend(rp_denies)

        identity_allows: list[MatchedStatement] = []
        boundary_ok = session_ok = True
        boundary_allows: list[MatchedStatement] = []
        session_allows: list[MatchedStatement] = []
        if t in _IAM_IDENTITIES:
            identity_allows, found = _scan(request.identity_policies, PolicyType.IDENTITY, ctx, service)
            denies.extend(found)
            for boundary in request.permissions_boundaries:
                allows, found = _scan((boundary,), PolicyType.PERMISSIONS_BOUNDARY, ctx, service)
                denies.extend(found)
                boundary_allows.extend(allows)
                boundary_ok = boundary_ok and bool(allows)
            if t in _SESSIONS:
                session_allows, found = _scan(request.session_policies, PolicyType.SESSION, ctx, service)
                denies.extend(found)
                # without a session policy a role session is not limited; a federated user has nothing
                session_ok = bool(session_allows) if request.session_policies else t is PrincipalType.ROLE_SESSION

        if denies:
            first = min(denies, key=lambda m: _DENY_ORDER.index(m.policy_type))
            return Decision(
                Effect.EXPLICIT_DENY, self.action, first.policy_type, tuple(denies), resource=request.resource
            )
        if rcp_missing is not None:
            return self.implicit(PolicyType.RESOURCE_CONTROL, f"level {rcp_missing} has no applicable Allow")
        if scp_missing is not None:
            return self.implicit(PolicyType.SERVICE_CONTROL, f"level {scp_missing} has no applicable Allow")

        rp_granting = [m for m, _ in rp_allows]
        if t is PrincipalType.ROOT:
            return self.root(rp_granting)
        if t not in _IAM_IDENTITIES:
            if rp_granting:
                return self.allow(rp_granting, "by the resource-based policy")
            return self.implicit(PolicyType.RESOURCE, f"{t.value} callers have no identity-based policies")

        cross_account = request.resource_account is not None and request.resource_account != p.account
        self.supporting.extend(boundary_allows)
        self.supporting.extend(session_allows)
        if cross_account:
            if not identity_allows:
                return self.implicit(PolicyType.IDENTITY, "cross-account requests need the caller's own allow")
            if not boundary_ok:
                return self.implicit(PolicyType.PERMISSIONS_BOUNDARY, "")
            if not session_ok:
                return self.implicit(PolicyType.SESSION, self.session_detail())
            if not rp_granting:
                return self.implicit(PolicyType.RESOURCE, "cross-account requests need the resource owner's allow")
            return self.allow(identity_allows + rp_granting, "across accounts by identity and resource policies")

        direct = [m for m, how in rp_allows if how is MatchKind.DIRECT]
        if direct:
            return self.allow(direct, "by a resource-based policy that names the caller")
        if request.resource_policy_required and not rp_granting:
            return self.implicit(PolicyType.RESOURCE, "this resource's policy must name the caller")
        entity = [m for m, how in rp_allows if how is MatchKind.ENTITY]
        if not identity_allows and not entity:
            return self.implicit(PolicyType.IDENTITY, "")
        if not boundary_ok:
            return self.implicit(PolicyType.PERMISSIONS_BOUNDARY, "")
        if not session_ok:
            return self.implicit(PolicyType.SESSION, self.session_detail())
        if identity_allows:
            return self.allow(identity_allows + entity, "by identity-based policy")
        return self.allow(entity, "by a resource-based policy that names the role or user behind the session")

    def session_detail(self) -> str:
        if not self.request.session_policies:
            return "a federated user session without a session policy has no permissions"
        return ""

    def root(self, rp_granting: list[MatchedStatement]) -> Decision:
        request = self.request
        cross_account = request.resource_account is not None and request.resource_account != request.principal.account
        if cross_account or request.resource_policy_required:
            if rp_granting:
                return self.allow(rp_granting, "by the resource-based policy (account root user)")
            return self.implicit(PolicyType.RESOURCE, "the resource's policy must allow the account")
        return self.allow(rp_granting, "(the account root user has full access in its own account)")


def evaluate(request: EvaluationRequest) -> Decision:
    """Decide one request: Allow, ExplicitDeny or ImplicitDeny, with the deciding statements."""
    return _Evaluation(request).run()
