"""The IAM policy simulator: SimulatePrincipalPolicy, SimulateCustomPolicy,
GetContextKeysForPrincipalPolicy and GetContextKeysForCustomPolicy.

Decisions come from the same engine the server authorizes with (``iamd.policy.evaluate``); the
simulator only assembles the request and shapes AWS's answer.  AWS behaviour followed here:

* The simulator uses only the context you give it (``ContextEntries``): nothing is derived from
  the principal or the clock (``aws:username``, ``aws:CurrentTime``... must be supplied), and every
  condition key or policy variable the simulated policies reference but the request lacks is
  listed in ``MissingContextValues`` -- the keys of *all* statements of those policies, as AWS
  lists them, not only the statements of the simulated action.
* One ``EvaluationResult`` per action (AWS's current behaviour): its ``EvalDecision`` is the most
  restrictive decision over the requested resources (explicitDeny > implicitDeny > allowed), its
  ``MatchedStatements`` those of the resources that decided it.  When ``ResourceArns`` names
  resources (anything but the default ``*``) each resource also gets a ``ResourceSpecificResults``
  entry and ``EvalDecisionDetails`` is present (empty unless the simulation is cross-account).
  ``MaxItems`` / ``Marker`` page over the actions.
* ``MatchedStatements``: the granting Allow statements on ``allowed``, the applicable Deny
  statements on ``explicitDeny``, none on ``implicitDeny``.  ``SourcePolicyId`` is
  ``PolicyInputList.N``, ``PermissionsBoundaryPolicyInputList.1``, ``ResourcePolicy``, a managed
  policy's name, or ``user_NAME_POLICY`` / ``group_NAME_POLICY`` / ``role_NAME_POLICY`` for inline
  policies; ``SourcePolicyType`` is ``IAM Policy`` or ``Resource Policy`` (what AWS answers, not
  the model's enum).  Positions are 1-based and follow AWS's JSON parser: the start is just after
  the token before the statement (``[`` or the previous statement's ``}``; just after ``{`` when
  ``Statement`` is a single object), the end just after the statement's ``}``.
* Cross-account (a ``ResourcePolicy`` whose resource belongs to another account than the caller's:
  the account in the resource ARN, else ``ResourceOwner``, else the caller's):
  ``EvalDecisionDetails`` gives ``{"IAM Policy": ..., "Resource Policy": ...}``.
* ``PermissionsBoundaryDecisionDetail`` appears when a permissions boundary takes part
  (the entity's own, or ``PermissionsBoundaryPolicyInputList`` which replaces it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core.arn import split_iam_resource, try_parse
from iamd.core.errors import InvalidInput, MalformedPolicyDocument, NoSuchEntity
from iamd.policy import (
    CompiledPolicy,
    Decision,
    Effect,
    EvaluationRequest,
    MatchedStatement,
    PolicyKind,
    PrincipalDescriptor,
    PrincipalType,
    compile_policy,
    describe_principal,
    evaluate,
)
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.principal_policies import SourcedPolicy, load_role, load_user
from iamd.services.registry import operation
from iamd.services.targets import any_resource, arn_param
from iamd.store import tables as t

IDENTITY_SOURCE = "IAM Policy"
RESOURCE_SOURCE = "Resource Policy"

_DECISIONS = {
    Effect.ALLOW: "allowed",
    Effect.EXPLICIT_DENY: "explicitDeny",
    Effect.IMPLICIT_DENY: "implicitDeny",
}
_SEVERITY = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}
_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
_NOT_FOUND = {
    "user": "The user with name {} cannot be found.",
    "group": "The group with name {} cannot be found.",
    "role": "The role with name {} cannot be found.",
}
_USER_ARN = re.compile(r"^arn:[a-z][a-z0-9-]*:iam::\d{12}:user/(?:[^/]+/)*[^/]+$")
_ROOT_ARN = re.compile(r"^arn:[a-z][a-z0-9-]*:iam::(\d{12}):root$")
_ACCOUNT = re.compile(r"^\d{12}$")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


# --- statement positions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """Where a statement sits in its policy text: 1-based (line, column) start and end."""

    start: tuple[int, int]
    end: tuple[int, int]


class _Scanner:
    """Just enough JSON reading to find the statements of a (valid) policy text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def ws(self) -> None:
        text, n = self.text, len(self.text)
        while self.i < n and text[self.i] in " \t\r\n":
            self.i += 1

    def string(self) -> str:
        text, start = self.text, self.i
        j = start + 1
        while text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        self.i = j + 1
        value = json.loads(text[start : j + 1])
        return value if isinstance(value, str) else ""

    def skip_value(self) -> None:
        self.ws()
        text, n = self.text, len(self.text)
        ch = text[self.i]
        if ch == '"':
            self.string()
            return
        if ch in "{[":
            depth = 0
            while self.i < n:
                ch = text[self.i]
                if ch == '"':
                    self.string()
                    continue
                if ch in "{[":
                    depth += 1
                elif ch in "}]":
                    depth -= 1
                    if depth == 0:
                        self.i += 1
                        return
                self.i += 1
            raise ValueError("unterminated value")
        while self.i < n and text[self.i] not in ",}] \t\r\n":
            self.i += 1

    def expect(self, ch: str) -> None:
        self.ws()
        if self.text[self.i] != ch:
            raise ValueError(f"expected {ch!r} at {self.i}")
        self.i += 1

    def statement_offsets(self) -> list[tuple[int, int]]:
        self.expect("{")
        while True:
            self.ws()
            if self.text[self.i] == "}":
                return []
            key = self.string()
            self.expect(":")
            if key == "Statement":
                return self.statements()
            self.skip_value()
            self.ws()
            if self.text[self.i] == ",":
                self.i += 1

    def statements(self) -> list[tuple[int, int]]:
        self.ws()
        if self.text[self.i] == "{":
            start = self.i + 1
            self.skip_value()
            return [(start, self.i)]
        self.expect("[")
        previous = self.i
        out: list[tuple[int, int]] = []
        while True:
            self.ws()
            ch = self.text[self.i]
            if ch == "]":
                return out
            if ch == ",":
                self.i += 1
                continue
            self.skip_value()
            out.append((previous, self.i))
            previous = self.i


def statement_spans(text: str) -> list[Span | None]:
    """The span of each statement of a policy text, in order (empty when it cannot be read)."""
    try:
        offsets = _Scanner(text).statement_offsets()
    except (ValueError, IndexError):
        return []
    starts = [0]
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 1
        if ch in "\r\n":
            starts.append(i + 1)
        i += 1

    def position(offset: int) -> tuple[int, int]:
        line = _bisect_right(starts, offset) - 1
        return line + 1, offset - starts[line] + 1

    return [Span(position(a), position(b)) for a, b in offsets]


def _bisect_right(values: Sequence[int], x: int) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


# --- context keys -----------------------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _variables(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    out = []
    for inner in _VARIABLE.findall(value):
        name = inner.split(",", 1)[0].strip()
        if ":" in name:
            out.append(name)
    return out


def context_keys(text: str) -> list[str]:
    """Condition keys and policy variables a (valid) policy references, in document order."""
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    variables = doc.get("Version") == "2012-10-17"
    out: list[str] = []
    for st in _listed(doc.get("Statement") or []):
        if not isinstance(st, dict):
            continue
        for key, value in st.items():
            if key in ("Resource", "NotResource") and variables:
                for resource in _listed(value):
                    out += _variables(resource)
            elif key == "Condition" and isinstance(value, dict):
                for entries in value.values():
                    if not isinstance(entries, dict):
                        continue
                    for cond_key, cond_values in entries.items():
                        out.append(cond_key)
                        if variables:
                            for item in _listed(cond_values):
                                out += _variables(item)
    return out


def _unique(keys: Iterable[str]) -> list[str]:
    """Keys are case-insensitive: the first spelling of each."""
    seen: set[str] = set()
    out = []
    for key in keys:
        if key.lower() not in seen:
            seen.add(key.lower())
            out.append(key)
    return out


# --- policy sources ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    source_id: str
    source_type: str
    text: str
    _spans: list[Span | None] | None = None

    def span(self, index: int) -> Span | None:
        if self._spans is None:
            self._spans = statement_spans(self.text)
        return self._spans[index] if index < len(self._spans) else None


@dataclass(slots=True)
class _Policies:
    """The documents of one simulation, each compiled under an internal id mapped to its source."""

    identity: list[CompiledPolicy] = field(default_factory=list)
    boundary: CompiledPolicy | None = None
    resource: CompiledPolicy | None = None
    sources: dict[str, _Source] = field(default_factory=dict)

    def _add(self, source_id: str, source_type: str, text: str, kind: PolicyKind) -> CompiledPolicy:
        key = f"p{len(self.sources)}"
        compiled = compile_policy(text, policy_id=key, kind=kind)
        self.sources[key] = _Source(source_id, source_type, text)
        return compiled

    def add_identity(self, source_id: str, text: str) -> None:
        self.identity.append(self._add(source_id, IDENTITY_SOURCE, text, PolicyKind.IDENTITY))

    def set_boundary(self, source_id: str, text: str) -> None:
        self.boundary = self._add(source_id, IDENTITY_SOURCE, text, PolicyKind.IDENTITY)

    def set_resource(self, text: str) -> None:
        self.resource = self._add("ResourcePolicy", RESOURCE_SOURCE, text, PolicyKind.RESOURCE)

    def texts(self) -> list[str]:
        return [s.text for s in self.sources.values()]

    def statement(self, m: MatchedStatement) -> dict[str, Any]:
        source = self.sources[m.policy_id]
        out: dict[str, Any] = {"SourcePolicyId": source.source_id, "SourcePolicyType": source.source_type}
        span = source.span(m.statement_index)
        if span is not None:
            out["StartPosition"] = {"Line": span.start[0], "Column": span.start[1]}
            out["EndPosition"] = {"Line": span.end[0], "Column": span.end[1]}
        return out


def _source_id(policy: SourcedPolicy) -> str:
    """AWS's SourcePolicyId: a managed policy's name; ``user_NAME_POLICY`` for inline policies."""
    pid = policy.policy_id
    if pid.startswith("arn:"):
        return pid.rsplit("/", 1)[-1]
    kind, _, rest = pid.partition("/")
    entity, _, policy_name = rest.partition("/inline/")
    return f"{kind}_{entity}_{policy_name}"


def _group_policies(ctx: OperationContext, group: Row[Any]) -> list[SourcedPolicy]:
    ip, pa, mp, pv = t.inline_policies, t.policy_attachments, t.managed_policies, t.policy_versions
    inline = ctx.conn.execute(
        sa.select(ip.c.name, ip.c.document)
        .where(ip.c.principal_type == "group", ip.c.principal_id == group.id)
        .order_by(ip.c.name_key)
    )
    out = [SourcedPolicy(f"group/{group.name}/inline/{r.name}", r.document) for r in inline]
    attached = ctx.conn.execute(
        sa.select(mp.c.arn, pv.c.document)
        .select_from(
            pa.join(mp, mp.c.id == pa.c.policy_id).join(
                pv, sa.and_(pv.c.policy_id == mp.c.id, pv.c.version_id == mp.c.default_version)
            )
        )
        .where(pa.c.principal_type == "group", pa.c.principal_id == group.id)
        .order_by(mp.c.arn)
    )
    out += [SourcedPolicy(r.arn, r.document) for r in attached]
    return out


@dataclass(frozen=True, slots=True)
class _Entity:
    kind: str
    """``user``, ``group`` or ``role``."""
    row: Row[Any]
    arn: str


def _source_entity(ctx: OperationContext, source_arn: str) -> _Entity:
    parsed = try_parse(source_arn)
    if parsed is None or parsed.service != "iam" or parsed.region or not _ACCOUNT.match(parsed.account):
        raise InvalidInput(f"ARN {source_arn} is not valid.")
    kind, _path, name = split_iam_resource(parsed.resource)
    if kind not in _NOT_FOUND or not name:
        raise InvalidInput(f"ARN {source_arn} is not valid.")
    table = {"user": t.users, "group": t.groups, "role": t.roles}[kind]
    row = c.find_named(ctx, table, name) if parsed.account == ctx.account_id else None
    if row is None:
        raise NoSuchEntity(_NOT_FOUND[kind].format(name))
    return _Entity(kind, row, c.arn(ctx, kind, row.path, row.name))


def _entity_policies(ctx: OperationContext, entity: _Entity) -> tuple[list[SourcedPolicy], SourcedPolicy | None]:
    """The entity's identity policies and permissions boundary."""
    if entity.kind == "group":
        return _group_policies(ctx, entity.row), None
    loaded = load_user(ctx.conn, entity.row.id) if entity.kind == "user" else load_role(ctx.conn, entity.row.id)
    return list(loaded.identity), loaded.boundary


# --- request pieces ---------------------------------------------------------------------------


def _context(entries: Sequence[Mapping[str, Any]] | None) -> dict[str, str | Sequence[str]]:
    """ContextEntries as the engine takes them: every typed value becomes its string form."""
    out: dict[str, str | Sequence[str]] = {}
    for entry in entries or ():
        name = entry.get("ContextKeyName")
        if not name:
            raise InvalidInput("ContextKeyName is required for each context entry.")
        kind = str(entry.get("ContextKeyType") or "string")
        values = [_typed_value(str(v), kind) for v in entry.get("ContextKeyValues") or ()]
        out[str(name)] = values[0] if len(values) == 1 and not kind.endswith("List") else values
    return out


def _typed_value(value: str, kind: str) -> str:
    base = kind.removesuffix("List")
    if base == "boolean":
        return value.strip().lower()
    if base in ("numeric", "ip", "date"):
        return value.strip()
    return value  # string, binary (base64 text)


def _caller(ctx: OperationContext, caller_arn: str) -> PrincipalDescriptor:
    if not _USER_ARN.match(caller_arn):
        raise InvalidInput(
            f"Invalid CallerArn {caller_arn}: you can specify only the ARN of an IAM user as the simulated caller."
        )
    unique_id = None
    parsed = try_parse(caller_arn)
    if parsed is not None and parsed.account == ctx.account_id:
        row = c.find_named(ctx, t.users, caller_arn.rsplit("/", 1)[1])
        unique_id = row.id if row is not None else None
    return describe_principal(caller_arn, unique_id=unique_id)


def _anonymous_user(ctx: OperationContext) -> PrincipalDescriptor:
    """A user of the caller's account that nothing names: for policies simulated on their own."""
    return PrincipalDescriptor(type=PrincipalType.USER, account=ctx.account_id, partition=ctx.partition)


def _resource_owner(value: str | None) -> str | None:
    if not value:
        return None
    if _ACCOUNT.match(value):
        return value
    m = _ROOT_ARN.match(value)
    if m is None:
        raise InvalidInput(f"Invalid ResourceOwner {value}: give an account ID or arn:aws:iam::ACCOUNT-ID:root.")
    return m.group(1)


def _boundary_inputs(policies: _Policies, params: Mapping[str, Any]) -> bool:
    """PermissionsBoundaryPolicyInputList (at most one); True when it was given."""
    documents = params.get("PermissionsBoundaryPolicyInputList") or []
    if len(documents) > 1:
        raise InvalidInput("The list of Permissions Boundary policies cannot exceed 1 items.")
    if documents:
        policies.set_boundary("PermissionsBoundaryPolicyInputList.1", documents[0])
        return True
    return False


def _policy_inputs(policies: _Policies, params: Mapping[str, Any]) -> None:
    for i, text in enumerate(params.get("PolicyInputList") or [], 1):
        policies.add_identity(f"PolicyInputList.{i}", text)


# --- the simulation ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    resource: str
    decision: str
    statements: list[dict[str, Any]]
    boundary_allowed: bool | None
    details: dict[str, str] | None
    """Cross-account: how each policy type decided; None in the caller's own account."""


class _Simulation:
    def __init__(
        self,
        principal: PrincipalDescriptor,
        policies: _Policies,
        context: Mapping[str, str | Sequence[str]],
        resource_owner: str | None,
    ) -> None:
        self.principal = principal
        self.policies = policies
        self.context = context
        self.resource_owner = resource_owner
        given = {key.lower() for key in context}
        keys = _unique(key for text in policies.texts() for key in context_keys(text))
        self.missing = [key for key in keys if key.lower() not in given]
        self._allow_all = compile_policy(_ALLOW_ALL, policy_id="allow-all")

    def _request(self, action: str, resource: str, **overrides: Any) -> EvaluationRequest:
        p = self.policies
        values: dict[str, Any] = {
            "principal": self.principal,
            "action": action,
            "resource": resource,
            "context": self.context,
            "identity_policies": p.identity,
            "permissions_boundaries": [p.boundary] if p.boundary is not None else [],
            "resource_policy": p.resource,
            "derive_context": False,
        }
        values.update(overrides)
        return EvaluationRequest(**values)

    def _resource_account(self, resource: str) -> str | None:
        """The account owning ``resource`` when it differs from the caller's (resource policies only)."""
        if self.policies.resource is None:
            return None
        parsed = try_parse(resource)
        owner = parsed.account if parsed is not None and _ACCOUNT.match(parsed.account) else None
        owner = owner or self.resource_owner or self.principal.account
        return owner if owner != self.principal.account else None

    def run(self, action: str, resource: str) -> _Outcome:
        account = self._resource_account(resource)
        decision: Decision = evaluate(self._request(action, resource, resource_account=account))
        statements = [self.policies.statement(m) for m in decision.statements]
        boundary_allowed = None
        if self.policies.boundary is not None:
            alone = self._request(
                action,
                resource,
                identity_policies=[self.policies.boundary],
                permissions_boundaries=[],
                resource_policy=None,
            )
            boundary_allowed = evaluate(alone).allowed
        details = None
        if account is not None:
            identity_side = evaluate(self._request(action, resource, resource_policy=None))
            resource_side = evaluate(
                self._request(
                    action,
                    resource,
                    identity_policies=[self._allow_all],
                    permissions_boundaries=[],
                    resource_account=account,
                )
            )
            details = {
                IDENTITY_SOURCE: _DECISIONS[identity_side.effect],
                RESOURCE_SOURCE: _DECISIONS[resource_side.effect],
            }
        return _Outcome(resource, _DECISIONS[decision.effect], statements, boundary_allowed, details)

    def result(self, action: str, resources: Sequence[str], per_resource: bool) -> dict[str, Any]:
        outcomes = [self.run(action, resource) for resource in resources]
        decision = max((o.decision for o in outcomes), key=_SEVERITY.__getitem__)
        matched: list[dict[str, Any]] = []
        for o in outcomes:
            if o.decision == decision:
                matched += [s for s in o.statements if s not in matched]
        out: dict[str, Any] = {
            "EvalActionName": action,
            "EvalResourceName": resources[0],
            "EvalDecision": decision,
            "MatchedStatements": matched,
            "MissingContextValues": list(self.missing),
        }
        if self.policies.boundary is not None:
            allowed = all(bool(o.boundary_allowed) for o in outcomes)
            out["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": allowed}
        details: dict[str, str] = {}
        for o in outcomes:
            for key, value in (o.details or {}).items():
                if key not in details or _SEVERITY[value] > _SEVERITY[details[key]]:
                    details[key] = value
        if per_resource or details:
            out["EvalDecisionDetails"] = details
        if per_resource:
            out["ResourceSpecificResults"] = [self._specific(o) for o in outcomes]
        return out

    def _specific(self, o: _Outcome) -> dict[str, Any]:
        out: dict[str, Any] = {
            "EvalResourceName": o.resource,
            "EvalResourceDecision": o.decision,
            "MatchedStatements": o.statements,
            "MissingContextValues": list(self.missing),
        }
        if o.details is not None:
            out["EvalDecisionDetails"] = o.details
        if o.boundary_allowed is not None:
            out["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": o.boundary_allowed}
        return out


def _simulate(sim: _Simulation, params: Mapping[str, Any]) -> dict[str, Any]:
    actions: list[str] = list(params.get("ActionNames") or [])
    given = list(params.get("ResourceArns") or [])
    resources = given or ["*"]
    per_resource = bool(given) and given != ["*"]
    start = 0
    marker = params.get("Marker")
    if marker:
        value = c.decode_marker(str(marker))[0]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= len(actions):
            raise InvalidInput("Invalid Marker.")
        start = value
    max_items = int(params.get("MaxItems") or c.DEFAULT_MAX_ITEMS)
    end = min(start + max_items, len(actions))
    results = [sim.result(action, resources, per_resource) for action in actions[start:end]]
    out: dict[str, Any] = {"EvaluationResults": results, "IsTruncated": end < len(actions)}
    if end < len(actions):
        out["Marker"] = c.encode_marker(end)
    return out


# --- the operations ---------------------------------------------------------------------------


@operation("iam", "SimulatePrincipalPolicy", target=arn_param("PolicySourceArn"))
def simulate_principal_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    entity = _source_entity(ctx, p["PolicySourceArn"])
    policies = _Policies()
    identity, boundary = _entity_policies(ctx, entity)
    for policy in identity:
        policies.add_identity(_source_id(policy), policy.document)
    _policy_inputs(policies, p)
    if not _boundary_inputs(policies, p) and boundary is not None:
        policies.set_boundary(_source_id(boundary), boundary.document)
    if p.get("ResourcePolicy"):
        policies.set_resource(p["ResourcePolicy"])
    caller_arn = p.get("CallerArn")
    if caller_arn:
        principal = _caller(ctx, caller_arn)
    elif entity.kind == "user":
        principal = describe_principal(entity.arn, unique_id=entity.row.id)
    elif p.get("ResourcePolicy"):
        raise InvalidInput(
            "CallerArn is required if you include a ResourcePolicy and the PolicySourceArn "
            "is not the ARN of an IAM user."
        )
    elif entity.kind == "role":
        principal = PrincipalDescriptor(
            type=PrincipalType.ROLE_SESSION,
            arn=entity.arn,
            account=ctx.account_id,
            partition=ctx.partition,
            name=entity.row.name,
            unique_id=entity.row.id,
            role_arn=entity.arn,
        )
    else:
        principal = _anonymous_user(ctx)
    sim = _Simulation(principal, policies, _context(p.get("ContextEntries")), _resource_owner(p.get("ResourceOwner")))
    return _simulate(sim, p)


@operation("iam", "SimulateCustomPolicy", target=any_resource)
def simulate_custom_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policies = _Policies()
    _policy_inputs(policies, p)
    _boundary_inputs(policies, p)
    if p.get("ResourcePolicy"):
        policies.set_resource(p["ResourcePolicy"])
    caller_arn = p.get("CallerArn")
    if caller_arn:
        principal = _caller(ctx, caller_arn)
    elif p.get("ResourcePolicy"):
        raise InvalidInput("CallerArn is required if you include a ResourcePolicy.")
    else:
        principal = _anonymous_user(ctx)
    sim = _Simulation(principal, policies, _context(p.get("ContextEntries")), _resource_owner(p.get("ResourceOwner")))
    return _simulate(sim, p)


def _checked(text: str) -> str:
    """A document given to GetContextKeys*: an identity policy, or else a resource-based one."""
    try:
        compile_policy(text, kind=PolicyKind.IDENTITY)
    except MalformedPolicyDocument as identity_error:
        try:
            compile_policy(text, kind=PolicyKind.RESOURCE)
        except MalformedPolicyDocument:
            raise identity_error from None
    return text


@operation("iam", "GetContextKeysForPrincipalPolicy", target=arn_param("PolicySourceArn"))
def get_context_keys_for_principal_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    entity = _source_entity(ctx, p["PolicySourceArn"])
    identity, boundary = _entity_policies(ctx, entity)
    texts = [policy.document for policy in identity]
    if boundary is not None:
        texts.append(boundary.document)
    texts += [_checked(text) for text in p.get("PolicyInputList") or []]
    return {"ContextKeyNames": _unique(key for text in texts for key in context_keys(text))}


@operation("iam", "GetContextKeysForCustomPolicy", target=any_resource)
def get_context_keys_for_custom_policy(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    texts = [_checked(text) for text in p.get("PolicyInputList") or []]
    return {"ContextKeyNames": _unique(key for text in texts for key in context_keys(text))}
