"""The data the evaluator takes and gives: principals, requests, decisions.

Everything here is plain frozen data.  ``EvaluationRequest`` holds compiled policies (see
``iamd.policy.compile.compile_policy``); ``Decision`` says Allow / ExplicitDeny / ImplicitDeny, which
policy type decided a denial, and which statements decided.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iamd.policy.compile import CompiledPolicy


class Effect(enum.Enum):
    """The evaluation result."""

    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class PolicyType(enum.Enum):
    """A policy layer, named as AWS names it in AccessDenied messages."""

    SERVICE_CONTROL = "service control policy"
    RESOURCE_CONTROL = "resource control policy"
    RESOURCE = "resource-based policy"
    IDENTITY = "identity-based policy"
    PERMISSIONS_BOUNDARY = "permissions boundary"
    SESSION = "session policy"

    @property
    def with_article(self) -> str:
        """``an identity-based policy``, ``a session policy``..."""
        article = "an" if self.value[0] in "aeiou" else "a"
        return f"{article} {self.value}"

    @property
    def key(self) -> str:
        """Short name used in JSON output and in the request file (``identity``, ``boundary``...)."""
        return _TYPE_KEYS[self]


_TYPE_KEYS = {
    PolicyType.SERVICE_CONTROL: "scp",
    PolicyType.RESOURCE_CONTROL: "rcp",
    PolicyType.RESOURCE: "resource",
    PolicyType.IDENTITY: "identity",
    PolicyType.PERMISSIONS_BOUNDARY: "boundary",
    PolicyType.SESSION: "session",
}


class PrincipalType(enum.Enum):
    """Who is calling.  The value is AWS's ``aws:PrincipalType`` where AWS defines one."""

    ROOT = "Account"
    USER = "User"
    ROLE_SESSION = "AssumedRole"
    """A role session: AssumeRole, AssumeRoleWithWebIdentity and AssumeRoleWithSAML sessions alike."""
    FEDERATED_USER = "FederatedUser"
    """A GetFederationToken session."""
    WEB_IDENTITY = "WebIdentityUser"
    """A web identity (OIDC) user before it has a role session: the caller of AssumeRoleWithWebIdentity."""
    SAML = "SAMLUser"
    """A SAML user before it has a role session: the caller of AssumeRoleWithSAML."""
    SERVICE = "Service"
    """An AWS service principal such as ``lambda.amazonaws.com``."""
    ANONYMOUS = "Anonymous"

    @property
    def is_iam_identity(self) -> bool:
        """Principals that have identity-based policies (and so boundaries and SCPs)."""
        return self in (PrincipalType.USER, PrincipalType.ROLE_SESSION, PrincipalType.FEDERATED_USER)

    @property
    def is_session(self) -> bool:
        return self in (PrincipalType.ROLE_SESSION, PrincipalType.FEDERATED_USER)


class MatchKind(enum.IntEnum):
    """How a resource-based policy's Principal element named the caller.

    AWS's same-account logic depends on it: a grant to the caller itself (``DIRECT``) is not
    limited by implicit denies in identity policies, boundaries or session policies; a grant to the
    role or IAM user behind a session (``ENTITY``) stands in for the identity policy but is limited
    by boundaries and session policies; a grant to the account (``ACCOUNT``) only delegates to it.
    """

    ACCOUNT = 1
    ENTITY = 2
    DIRECT = 3


@dataclass(frozen=True, slots=True)
class PrincipalDescriptor:
    """The calling principal, as the evaluator needs it.

    ``arn`` is the caller's own ARN: the root ARN, the user ARN, the assumed-role session ARN
    (``arn:aws:sts::123456789012:assumed-role/Role/session``), the federated user ARN; the service
    name for a service principal (``lambda.amazonaws.com``); the provider for web identity / SAML
    callers; empty for anonymous callers.  See ``iamd.policy.context.describe_principal``.
    """

    type: PrincipalType
    arn: str = ""
    account: str | None = None
    partition: str = "aws"
    name: str | None = None
    """The user name (IAM users), role name (role sessions), federated user name."""
    user_id: str | None = None
    """``aws:userid``; derived where AWS defines it from the other fields (root, federated users)."""
    unique_id: str | None = None
    """The IAM unique id (``AIDA...`` of a user, ``AROA...`` of the role behind a session)."""
    role_arn: str | None = None
    """Role sessions: the role's ARN, with its path (it is ``aws:PrincipalArn``)."""
    session_name: str | None = None
    source_user_arn: str | None = None
    """Federated users: the IAM user (or root) that called GetFederationToken."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Principal tags (user or role tags, session tags win)."""
    federated_provider: str | None = None
    """Web identity / SAML: the provider (``accounts.google.com``, a SAML provider ARN...)."""
    source_identity: str | None = None
    canonical_user: str | None = None
    service_linked_role: bool = False
    """A service-linked role's session: SCPs and RCPs do not apply."""
    in_management_account: bool = False
    """The principal belongs to the organization's management account: SCPs do not apply."""


@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    """One authorization question: may ``principal`` do ``action`` on ``resource``?

    Policies are ``CompiledPolicy`` objects (``compile_policy(document, policy_id=..., kind=...)``;
    compiling is cached by content).  ``service_control_policies`` and
    ``resource_control_policies`` are lists of levels (root, OUs, account), each level a list of
    policies: every level must allow.  ``context`` maps condition keys (any case) to a string or a
    list of strings; keys derivable from the principal (``aws:PrincipalArn``, ``aws:username``...)
    and from ``now`` (``aws:CurrentTime``, ``aws:EpochTime``) are filled in when absent.
    """

    principal: PrincipalDescriptor
    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    identity_policies: Sequence[CompiledPolicy] = ()
    resource_policy: CompiledPolicy | None = None
    permissions_boundaries: Sequence[CompiledPolicy] = ()
    session_policies: Sequence[CompiledPolicy] = ()
    service_control_policies: Sequence[Sequence[CompiledPolicy]] = ()
    resource_control_policies: Sequence[Sequence[CompiledPolicy]] = ()
    resource_account: str | None = None
    """The account owning the resource; None means the principal's own account."""
    resource_policy_required: bool = False
    """Role trust policies and KMS key policies: the resource policy itself must allow the caller."""
    resource_in_management_account: bool = False
    """The resource belongs to the management account: RCPs do not apply."""
    now: float | None = None
    """Epoch seconds for ``aws:CurrentTime`` / ``aws:EpochTime`` (not filled when None)."""
    derive_context: bool = True


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement that took part in the decision."""

    policy_type: PolicyType
    policy_id: str
    statement_index: int
    sid: str | None
    effect: str
    """``Allow`` or ``Deny``."""
    level: int | None = None
    """SCP / RCP level (0 = the first level given)."""
    line: int | None = None
    """Line of the statement in the policy text, when compiled from text."""

    @property
    def ref(self) -> str:
        """``Sid`` when the statement has one, otherwise ``policy-id[index]``."""
        return self.sid if self.sid else f"{self.policy_id}[{self.statement_index}]"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy_type": self.policy_type.key,
            "policy_id": self.policy_id,
            "statement_index": self.statement_index,
            "sid": self.sid,
            "effect": self.effect,
        }
        if self.level is not None:
            out["level"] = self.level
        if self.line is not None:
            out["line"] = self.line
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer.

    ``policy_type`` is the layer that denied (None on Allow): for an explicit deny, the type of the
    first denying statement's policy (SCP, RCP, resource, identity, boundary, session, in that
    order); for an implicit deny, the layer with no applicable Allow.  ``statements`` are the
    deciding statements: every applicable Deny on an explicit deny, the granting Allow statements on
    Allow (identity and/or resource policy), none on an implicit deny.  ``supporting`` are the Allow
    statements of the limiting layers (boundary, session, SCP, RCP) that let an Allow through.
    """

    effect: Effect
    action: str
    policy_type: PolicyType | None
    statements: tuple[MatchedStatement, ...] = ()
    supporting: tuple[MatchedStatement, ...] = ()
    resource: str = ""
    detail: str = ""
    """A short note on why (``the account root user has full access in its own account``...)."""

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW

    @property
    def reason(self) -> str:
        """AWS's wording: ``with an explicit deny in an identity-based policy`` or
        ``because no identity-based policy allows the iam:GetUser action``; empty on Allow."""
        if self.effect is Effect.ALLOW or self.policy_type is None:
            return ""
        if self.effect is Effect.EXPLICIT_DENY:
            return f"with an explicit deny in {self.policy_type.with_article}"
        return f"because no {self.policy_type.value} allows the {self.action} action"

    @property
    def explanation(self) -> str:
        """One sentence for people: what decided, and which statements."""
        if self.effect is Effect.ALLOW:
            text = f"Allowed {self.detail}" if self.detail else "Allowed"
            return f"{text}: {describe(self.statements)}" if self.statements else text
        ptype = self.policy_type.value if self.policy_type is not None else "policy"
        if self.effect is Effect.EXPLICIT_DENY:
            article = self.policy_type.with_article if self.policy_type is not None else "a policy"
            return f"Explicitly denied by {article}: {describe(self.statements)}"
        text = f"Implicitly denied: no {ptype} allows {self.action} on {self.resource or '*'}"
        return f"{text} ({self.detail})" if self.detail else text

    def as_json(self) -> dict[str, Any]:
        return {
            "decision": self.effect.value,
            "denied_by": self.policy_type.key if self.policy_type is not None else None,
            "matched_statements": [s.as_json() for s in self.statements],
            "supporting_statements": [s.as_json() for s in self.supporting],
            "explanation": self.explanation,
        }


def describe(statements: Sequence[MatchedStatement]) -> str:
    """``Sid in policy-id; statement 2 of other-policy (level 1)``."""
    names = []
    for st in statements:
        where = st.policy_id or st.policy_type.value
        if st.level is not None:
            where += f" (level {st.level})"
        names.append(f"{st.sid} in {where}" if st.sid else f"statement {st.statement_index} of {where}")
    return "; ".join(names)


def access_denied_message(principal_arn: str, action: str, resource: str, decision: Decision) -> str:
    """AWS's AccessDenied message for a denied decision.

    ``User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:CreateUser on
    resource: arn:aws:iam::123456789012:user/eve because no identity-based policy allows the
    iam:CreateUser action``.  An empty ``resource`` leaves out the ``on resource:`` part, as AWS does
    for actions without a resource; an empty ``principal_arn`` reads ``anonymous``.
    """
    who = principal_arn or "anonymous"
    text = f"User: {who} is not authorized to perform: {action}"
    if resource:
        text += f" on resource: {resource}"
    reason = decision.reason
    return f"{text} {reason}" if reason else text
