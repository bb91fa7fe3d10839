"""Compiled policies: matchers built once, statements indexed by service prefix, cached by content.

``compile_policy(document, policy_id=..., kind=...)`` validates the document (raising AWS's
``MalformedPolicyDocument``), turns wildcards into exact-set / prefix / regex checks and conditions
into compiled objects, and indexes the statements by the service prefix of their actions so a
request only looks at statements that can match its action's service.  The compiled body is cached
by (content, kind) in a bounded LRU; the returned ``CompiledPolicy`` is a light handle carrying the
caller's policy id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from iamd.core.errors import MalformedPolicyDocument
from iamd.policy.conditions import Condition, compile_condition
from iamd.policy.context import EvalContext
from iamd.policy.grammar import (
    SYNTAX,
    Policy,
    PolicyKind,
    PrincipalSpec,
    Statement,
    padded_resource,
    parse_policy,
)
from iamd.policy.model import MatchKind, PrincipalDescriptor, PrincipalType
from iamd.policy.variables import (
    EXACT,
    GLOB,
    PREFIX,
    RESOURCE,
    STAR,
    Pattern,
    compiled,
    has_wildcards,
    matches,
    regex_source,
    tokenize,
)

CACHE_SIZE = 4096
_ROOT_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")


class CompiledPrincipal:
    """A Principal / NotPrincipal element as sets, matched against a ``PrincipalDescriptor``."""

    __slots__ = ("accounts", "aws", "canonical", "everyone", "federated", "services")

    def __init__(self, spec: PrincipalSpec) -> None:
        self.everyone = spec.everyone
        self.aws = frozenset(spec.aws)
        accounts: set[str] = set()
        for value in spec.aws:
            if len(value) == 12 and value.isdigit():
                accounts.add(value)
            else:
                m = _ROOT_ARN.match(value)
                if m is not None:
                    accounts.add(m.group(1))
        self.accounts = frozenset(accounts)
        self.services = frozenset(spec.service)
        self.federated = frozenset(spec.federated)
        self.canonical = frozenset(spec.canonical_user)

    def match(self, p: PrincipalDescriptor) -> MatchKind | None:
        """How this element names the caller, or None if it does not."""
        if self.everyone:
            return MatchKind.DIRECT
        t = p.type
        if t is PrincipalType.SERVICE:
            return MatchKind.DIRECT if p.arn in self.services else None
        if t is PrincipalType.WEB_IDENTITY or t is PrincipalType.SAML:
            return MatchKind.DIRECT if p.federated_provider in self.federated else None
        if t is PrincipalType.ANONYMOUS:
            return None
        aws = self.aws
        if p.arn in aws:
            return MatchKind.DIRECT
        if t is PrincipalType.ROOT:
            return MatchKind.DIRECT if p.account in self.accounts else None
        if t is PrincipalType.USER and p.unique_id is not None and p.unique_id in aws:
            return MatchKind.DIRECT
        if t is PrincipalType.ROLE_SESSION and (
            (p.role_arn is not None and p.role_arn in aws) or (p.unique_id is not None and p.unique_id in aws)
        ):
            return MatchKind.ENTITY
        if t is PrincipalType.FEDERATED_USER and p.source_user_arn is not None and p.source_user_arn in aws:
            return MatchKind.ENTITY
        if p.account is not None and p.account in self.accounts:
            return MatchKind.ACCOUNT
        if p.canonical_user is not None and p.canonical_user in self.canonical:
            return MatchKind.ACCOUNT
        return None

    def names_fully(self, p: PrincipalDescriptor) -> bool:
        """NotPrincipal with Deny: the caller is spared only when every level AWS may check is
        listed -- its account and itself (or, for a session, the role or user behind it)."""
        how = self.match(p)
        if how is None:
            return False
        if how is MatchKind.ACCOUNT:
            return p.type is PrincipalType.ROOT
        if p.type is PrincipalType.ROOT or not (p.type.is_iam_identity):
            return True
        return p.account is not None and p.account in self.accounts


def _with_padded(patterns: tuple[str, ...]) -> list[str]:
    """Resource patterns with each short ARN also in its padded form (``arn:aws:sqs`` is also
    ``arn:aws:sqs:*:*:*``): IAM reads missing parts as ``*``, and the text still matches itself."""
    out: list[str] = []
    for text in patterns:
        out.append(text)
        padded = padded_resource(text)
        if padded != text:
            out.append(padded)
    return out


class _Resources:
    """Resource / NotResource patterns: exact set, prefixes, one regex, and variable patterns."""

    __slots__ = ("any", "dynamic", "exact", "prefixes", "regex")

    def __init__(self, patterns: tuple[str, ...], variables: bool) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        sources: list[str] = []
        dynamic: list[Pattern] = []
        self.any = False
        for text in _with_padded(patterns):
            parts = tokenize(text, variables)
            if len(parts) == 1 and parts[0][0] == STAR:
                self.any = True
                continue
            pattern = Pattern(parts, RESOURCE)
            if pattern.static is None:
                dynamic.append(pattern)
            elif pattern.mode == EXACT:
                exact.add(str(pattern.static[1]))
            elif pattern.mode == PREFIX:
                prefixes.append(str(pattern.static[1]))
            else:
                source = regex_source(pattern.parts, RESOURCE)
                if source is not None:
                    sources.append(source)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.regex = compiled("|".join(f"(?:{s})" for s in sources)) if sources else None
        self.dynamic = tuple(dynamic)

    def match(self, resource: str, ctx: EvalContext) -> bool:
        if self.any or resource in self.exact:
            return True
        if self.prefixes and resource.startswith(self.prefixes):
            return True
        if self.regex is not None and self.regex.fullmatch(resource) is not None:
            return True
        for pattern in self.dynamic:
            if not resource.startswith(pattern.head):
                continue
            resolved = pattern.resolve(ctx.variable)
            if resolved is not None and matches(resource, resolved):
                return True
        return False


class _Actions:
    """Action / NotAction patterns, case-insensitive: exact set plus one regex."""

    __slots__ = ("any", "exact", "regex")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        exact: set[str] = set()
        sources: list[str] = []
        self.any = False
        for pattern in patterns:
            lowered = pattern.lower()
            if lowered == "*":
                self.any = True
                continue
            parts = tokenize(lowered, False)
            if has_wildcards(parts):
                source = regex_source(parts, GLOB)
                if source is not None:
                    sources.append(source)
            else:
                exact.add(lowered)
        self.exact = frozenset(exact)
        self.regex = compiled("|".join(f"(?:{s})" for s in sources)) if sources else None

    def match(self, action: str) -> bool:
        if self.any or action in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(action) is not None


class CompiledStatement:
    __slots__ = (
        "actions",
        "allow",
        "conditions",
        "effect",
        "index",
        "line",
        "not_action",
        "not_principal",
        "not_resource",
        "principal",
        "resources",
        "services",
        "sid",
        "statement",
    )

    def __init__(self, st: Statement, variables: bool) -> None:
        self.statement = st
        self.index = st.index
        self.sid = st.sid
        self.line = st.line
        self.allow = st.allow
        self.effect = st.effect
        self.not_action = st.not_actions is not None
        action_patterns = st.not_actions if st.not_actions is not None else st.actions or ()
        self.actions = _Actions(action_patterns)
        self.not_resource = st.not_resources is not None
        resource_patterns = st.not_resources if st.not_resources is not None else st.resources
        self.resources = _Resources(resource_patterns, variables) if resource_patterns is not None else None
        self.principal = CompiledPrincipal(st.principal) if st.principal is not None else None
        self.not_principal = CompiledPrincipal(st.not_principal) if st.not_principal is not None else None
        conditions = [compile_condition(c, variables) for c in st.conditions]
        # AND-ed and free of side effects: cheap checks first
        self.conditions: tuple[Condition, ...] = tuple(sorted(conditions, key=lambda c: c.cost))
        vendors = {pattern.split(":", 1)[0].lower() for pattern in action_patterns}
        wild = self.not_action or self.actions.any or any("*" in v or "?" in v for v in vendors)
        self.services = None if wild else frozenset(vendors)
        """Service prefixes this statement can match; None: any service (NotAction, ``*``)."""

    def applies(self, ctx: EvalContext) -> bool:
        """Action, resource and conditions (not the principal) match the request."""
        if self.actions.match(ctx.action) == self.not_action:
            return False
        resources = self.resources
        if resources is not None and resources.match(ctx.resource, ctx) == self.not_resource:
            return False
        for condition in self.conditions:  # noqa: SIM110 - a plain loop is faster on this hot path
            if not condition.evaluate(ctx):
                return False
        return True

    def principal_match(self, p: PrincipalDescriptor) -> MatchKind | None:
        """For resource-based policies: how the statement names the caller (None: not at all)."""
        if self.principal is not None:
            return self.principal.match(p)
        if self.not_principal is not None:
            # Allow: anyone the element names at all is left out; Deny: only the fully named are spared
            spared = self.not_principal.match(p) is not None if self.allow else self.not_principal.names_fully(p)
            return None if spared else MatchKind.DIRECT
        return None


class PolicyBody:
    """The content-derived, shareable part of a compiled policy."""

    __slots__ = ("by_service", "kind", "policy", "statements", "wild")

    def __init__(self, policy: Policy, kind: PolicyKind) -> None:
        self.policy = policy
        self.kind = kind
        variables = policy.variables
        self.statements = tuple(CompiledStatement(st, variables) for st in policy.statements)
        self.wild = tuple(st for st in self.statements if st.services is None)
        services: set[str] = set()
        for st in self.statements:
            if st.services is not None:
                services |= st.services
        self.by_service = {
            service: tuple(st for st in self.statements if st.services is None or service in st.services)
            for service in services
        }

    def candidates(self, service: str) -> tuple[CompiledStatement, ...]:
        """Statements that can match an action of ``service`` (lower-case), in document order."""
        return self.by_service.get(service, self.wild)


class CompiledPolicy:
    """A compiled policy with the caller's id (an ARN, a policy name...)."""

    __slots__ = ("body", "policy_id")

    def __init__(self, body: PolicyBody, policy_id: str = "") -> None:
        self.body = body
        self.policy_id = policy_id

    @property
    def policy(self) -> Policy:
        return self.body.policy

    @property
    def kind(self) -> PolicyKind:
        return self.body.kind

    @property
    def statements(self) -> tuple[CompiledStatement, ...]:
        return self.body.statements

    def with_id(self, policy_id: str) -> CompiledPolicy:
        return CompiledPolicy(self.body, policy_id)

    def __repr__(self) -> str:
        return f"CompiledPolicy({self.policy_id!r}, {len(self.body.statements)} statements, {self.body.kind.value})"


@lru_cache(maxsize=CACHE_SIZE)
def _compile_text(text: str, kind: PolicyKind) -> PolicyBody:
    return PolicyBody(parse_policy(text, kind), kind)


@lru_cache(maxsize=CACHE_SIZE)
def _compile_canonical(canonical: str, kind: PolicyKind) -> PolicyBody:
    return PolicyBody(parse_policy(json.loads(canonical), kind), kind)


def compile_policy(
    document: str | Mapping[str, Any] | CompiledPolicy,
    *,
    policy_id: str = "",
    kind: PolicyKind = PolicyKind.IDENTITY,
) -> CompiledPolicy:
    """Validate and compile a policy document (JSON text or parsed object).

    ``kind`` picks the grammar rules: ``IDENTITY`` (identity policies, boundaries, session
    policies: no Principal), ``RESOURCE`` / ``TRUST`` (Principal required), ``SCP``, ``RCP``.
    Raises ``MalformedPolicyDocument``.  Results are cached by content (bounded LRU).
    """
    if isinstance(document, CompiledPolicy):
        return document.with_id(policy_id) if policy_id else document
    if isinstance(document, str):
        return CompiledPolicy(_compile_text(document, kind), policy_id)
    try:
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise MalformedPolicyDocument(SYNTAX) from exc
    return CompiledPolicy(_compile_canonical(canonical, kind), policy_id)


def cache_clear() -> None:
    _compile_text.cache_clear()
    _compile_canonical.cache_clear()
