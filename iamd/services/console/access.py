"""Who can do what: effective permissions, who can assume a role, which roles a user can reach,
the editor's simulate panel, and the small text helpers of the policy pages.

The account's users, groups, roles and their policies are read with
GetAccountAuthorizationDetails as the console's caller (so the pages need that permission, as
AWS's own analysis tools do).  Decisions then come from iamd's engine, exactly as the server
makes them: per-action decisions through SimulatePrincipalPolicy (as the caller), and
"can X assume R" with the authorizer's ``decide`` on R's trust policy, the very check AssumeRole
makes (with an empty request context: a condition that needs MFA, a source IP or an external
id counts as not met).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from iamd.auth.session_tokens import SessionClaims, principal_from_claims
from iamd.core.errors import AwsError, MalformedPolicyDocument
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy import Effect, PolicyKind, compile_policy
from iamd.services.console.actions import Caller
from iamd.services.console.admin import call
from iamd.services.runtime import Runtime

MAX_SIMULATED_ACTIONS = 1000


# --- the account's principals -------------------------------------------------------------------------------


@dataclass
class Entity:
    kind: str
    """``user``, ``group`` or ``role``."""
    name: str
    arn: str
    id: str
    policies: list[tuple[str, str]] = field(default_factory=list)
    """(where from, document) of its identity policies, groups' included for users."""
    trust: str | None = None
    groups: list[str] = field(default_factory=list)


@dataclass
class Principals:
    users: list[Entity]
    groups: list[Entity]
    roles: list[Entity]

    def find(self, arn: str) -> Entity | None:
        return next((e for e in self.users + self.groups + self.roles if e.arn == arn), None)

    def role(self, name: str) -> Entity | None:
        return next((r for r in self.roles if r.name.lower() == name.lower()), None)

    def user(self, name: str) -> Entity | None:
        return next((u for u in self.users if u.name.lower() == name.lower()), None)


def principals(caller: Caller) -> Principals:
    """Every user, group and role with its policies (GetAccountAuthorizationDetails, all pages)."""
    keys = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    marker: str | None = None
    while True:
        params = {"MaxItems": "1000", **({"Marker": marker} if marker else {})}
        out = call(caller, "GetAccountAuthorizationDetails", params)
        for k in keys:
            got[k].extend(out.get(k, []))
        if not out.get("IsTruncated"):
            break
        marker = str(out["Marker"])
    managed: dict[str, str] = {}
    for p in got["Policies"]:
        for v in p.get("PolicyVersionList", []):
            if v.get("IsDefaultVersion"):
                managed[str(p["Arn"])] = str(v["Document"])

    def attached(detail: Mapping[str, Any], label: str) -> list[tuple[str, str]]:
        out = [(f"{label} inline {p['PolicyName']}", str(p["PolicyDocument"])) for p in _inline(detail)]
        via = f"{label}: " if label.startswith("group") else ""
        for a in detail.get("AttachedManagedPolicies", []):
            arn = str(a["PolicyArn"])
            if arn in managed:
                out.append((via + arn, managed[arn]))
        return out

    groups = [
        Entity("group", str(g["GroupName"]), str(g["Arn"]), str(g["GroupId"]), attached(g, f"group {g['GroupName']}"))
        for g in got["GroupDetailList"]
    ]
    by_group = {g.name: g for g in groups}
    users = []
    for u in got["UserDetailList"]:
        entity = Entity("user", str(u["UserName"]), str(u["Arn"]), str(u["UserId"]), attached(u, "user"))
        entity.groups = [str(g) for g in u.get("GroupList", [])]
        for g in entity.groups:
            if g in by_group:
                entity.policies.extend(by_group[g].policies)
        users.append(entity)
    roles = [
        Entity(
            "role",
            str(r["RoleName"]),
            str(r["Arn"]),
            str(r["RoleId"]),
            attached(r, "role"),
            trust=str(r.get("AssumeRolePolicyDocument") or ""),
        )
        for r in got["RoleDetailList"]
    ]
    return Principals(users, groups, roles)


def _inline(detail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("UserPolicyList", "GroupPolicyList", "RolePolicyList"):
        if key in detail:
            return list(detail[key])
    return []


# --- effective permissions ------------------------------------------------------------------------------------


@dataclass
class Grant:
    effect: str
    actions: list[str]
    not_action: bool
    resources: list[str]
    conditions: bool
    source: str


@dataclass
class ServiceView:
    service: str
    grants: list[Grant] = field(default_factory=list)
    decisions: list[tuple[str, str]] = field(default_factory=list)
    """(action, decision on every resource) for the actions iamd serves."""


@dataclass
class EffectiveReport:
    entity: Entity
    services: list[ServiceView]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _statements(document: str) -> list[Mapping[str, Any]]:
    try:
        doc = json.loads(document)
    except ValueError:
        return []
    sts = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(sts, dict):
        sts = [sts]
    return [s for s in sts or [] if isinstance(s, dict)]


def effective(rt: Runtime, caller: Caller, found: Principals, arn: str) -> EffectiveReport | None:
    entity = found.find(arn)
    if entity is None:
        return None
    views: dict[str, ServiceView] = {}
    for source, document in entity.policies:
        for st in _statements(document):
            not_action = "NotAction" in st
            patterns = _strings(st.get("NotAction") if not_action else st.get("Action"))
            by_service: dict[str, list[str]] = {}
            for pattern in patterns:
                service = pattern.split(":", 1)[0].lower() if ":" in pattern else "*"
                by_service.setdefault(service, []).append(pattern)
            resources = _strings(st.get("Resource")) or [f"not {r}" for r in _strings(st.get("NotResource"))]
            for service, acts in by_service.items():
                views.setdefault(service, ServiceView(service)).grants.append(
                    Grant(str(st.get("Effect", "")), acts, not_action, resources, "Condition" in st, source)
                )
    served = sorted({f"{svc}:{name}" for svc, name in rt.operations})
    allowed_patterns = [
        p.lower() for g in (g for v in views.values() for g in v.grants) if g.effect == "Allow" for p in g.actions
    ]
    candidates = [a for a in served if any(_glob(p, a.lower()) for p in allowed_patterns)]
    decided = _decide(caller, entity.arn, candidates[:MAX_SIMULATED_ACTIONS]) if candidates else {}
    for action, decision in decided.items():
        service = action.split(":", 1)[0]
        views.setdefault(service, ServiceView(service)).decisions.append((action, decision))
    return EffectiveReport(entity, [views[k] for k in sorted(views)])


def _glob(pattern: str, value: str) -> bool:
    """IAM action matching: ``*`` any run, ``?`` one character, case-insensitive."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _decide(caller: Caller, arn: str, actions: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for start in range(0, len(actions), 100):
        chunk = actions[start : start + 100]
        params = {"PolicySourceArn": arn, "MaxItems": "1000"}
        params.update({f"ActionNames.member.{i}": a for i, a in enumerate(chunk, 1)})
        result = call(caller, "SimulatePrincipalPolicy", params)
        for r in result.get("EvaluationResults", []):
            out[str(r["EvalActionName"])] = str(r["EvalDecision"])
    return out


# --- the simulate panel -------------------------------------------------------------------------------------------


@dataclass
class SimulatedAction:
    action: str
    resource: str
    decision: str
    statements: list[dict[str, Any]]
    """Matched statements: source, start and end line."""


@dataclass
class Simulation:
    principal: str
    actions: list[str]
    resources: list[str]
    results: list[SimulatedAction]
    lines: list[int]
    """Lines of the draft that decided something (to highlight)."""


DRAFT_SOURCES = ("PolicyInputList.1", "ResourcePolicy")


def simulate(
    caller: Caller, draft: str, kind: str, principal: str, actions: list[str], resources: list[str]
) -> Simulation:
    """The draft (with the principal's own policies, when one is named) against the actions.

    An identity policy draft is given as PolicyInputList; a trust policy draft as the
    ResourcePolicy of ``sts:AssumeRole`` by the named user (the simulator's caller)."""
    if not actions:
        raise MalformedPolicyDocument("Name at least one action to simulate.")
    resources = resources or ["*"]
    params: dict[str, str] = {"MaxItems": "1000"}
    params.update({f"ActionNames.member.{i}": a for i, a in enumerate(actions, 1)})
    params.update({f"ResourceArns.member.{i}": r for i, r in enumerate(resources, 1)})
    if kind == "trust":
        if not principal:
            raise MalformedPolicyDocument("Name the user whose sts:AssumeRole the trust policy should decide.")
        params.update({"PolicySourceArn": principal, "ResourcePolicy": draft})
        action = "SimulatePrincipalPolicy"
    else:
        params["PolicyInputList.member.1"] = draft
        if principal:
            params["PolicySourceArn"] = principal
            action = "SimulatePrincipalPolicy"
        else:
            action = "SimulateCustomPolicy"
    out = call(caller, action, params)
    results: list[SimulatedAction] = []
    lines: set[int] = set()
    for r in out.get("EvaluationResults", []):
        specific = r.get("ResourceSpecificResults") or [
            {
                "EvalResourceName": r.get("EvalResourceName", "*"),
                "EvalResourceDecision": r["EvalDecision"],
                "MatchedStatements": r.get("MatchedStatements", []),
            }
        ]
        for s in specific:
            matched = []
            for m in s.get("MatchedStatements", []):
                start = int(m.get("StartPosition", {}).get("Line", 0))
                end = int(m.get("EndPosition", {}).get("Line", 0))
                source = str(m.get("SourcePolicyId", ""))
                matched.append({"source": source, "start": start, "end": end, "draft": source in DRAFT_SOURCES})
                if source in DRAFT_SOURCES and start:
                    lines.update(range(start, end + 1))
            results.append(
                SimulatedAction(
                    str(r["EvalActionName"]), str(s["EvalResourceName"]), str(s["EvalResourceDecision"]), matched
                )
            )
    return Simulation(principal, actions, resources, results, sorted(lines))


# --- assume-role graphs -------------------------------------------------------------------------------------------


def _as_principal(entity: Entity, account: str) -> Principal:
    if entity.kind == "user":
        return Principal(PrincipalKind.USER, account, entity.arn, entity.id, entity.name, "", entity.id)
    session = "console-analysis"
    partition = entity.arn.split(":")[1]
    claims = SessionClaims(
        account_id=account,
        access_key_id="",
        secret_access_key="",
        principal_kind="assumed-role",
        arn=f"arn:{partition}:sts::{account}:assumed-role/{entity.name}/{session}",
        user_id=f"{entity.id}:{session}",
        name=entity.name,
        issued_at=0.0,
        expires_at=0.0,
        entity_id=entity.id,
        session_name=session,
        role_arn=entity.arn,
    )
    return principal_from_claims(claims)


def assume_edges(rt: Runtime, found: Principals) -> list[tuple[Entity, Entity]]:
    """(principal, role) for every user or role that may call sts:AssumeRole on the role."""
    edges: list[tuple[Entity, Entity]] = []
    for role in found.roles:
        account = role.arn.split(":")[4]
        try:
            trust = compile_policy(role.trust or "{}", policy_id=f"{role.arn} trust policy", kind=PolicyKind.TRUST)
        except AwsError:
            continue
        for who in [*found.users, *found.roles]:
            if who is role:
                continue
            decision = rt.authorizer.decide(
                _as_principal(who, account),
                "sts:AssumeRole",
                role.arn,
                {},
                resource_policy=trust,
                resource_account=account,
                resource_policy_required=True,
            )
            if decision.effect is Effect.ALLOW:
                edges.append((who, role))
    return edges


def external_trust(role: Entity, found: Principals) -> list[str]:
    """Principals outside the account's users and roles that the trust policy names (services,
    identity providers, accounts), as short labels."""
    known = {e.arn for e in found.users + found.roles}
    out: list[str] = []
    for st in _statements(role.trust or ""):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal == "*":
            out.append("anyone (*)")
        elif isinstance(principal, dict):
            for ptype, values in principal.items():
                out.extend(_outside_label(str(ptype), v) for v in _strings(values) if v not in known)
    return list(dict.fromkeys(out))


def _outside_label(ptype: str, value: str) -> str:
    if ptype == "AWS":
        if value == "*":
            return "anyone (*)"
        if value.isdigit():
            return f"account {value}"
        parts = value.split(":")
        if len(parts) >= 6 and parts[5] == "root":
            return f"account {parts[4]}"
        return f"{_short(value)} ({parts[4]})" if len(parts) >= 6 else value
    if ptype == "Service":
        return f"service {value}"
    if ptype == "Federated":
        return f"provider {value.rsplit('/', 1)[-1]}"
    return f"{ptype} {value}"


@dataclass
class Graph:
    title: str
    nodes: list[tuple[str, str, int]]
    """(kind, name, column)"""
    edges: list[tuple[int, int]]
    svg: str
    paths: list[list[str]]
    external: list[str] = field(default_factory=list)


@dataclass
class Walk:
    """A breadth-first walk over assume-role edges from one entity."""

    edges: list[tuple[Entity, Entity]]
    """The edges met, as (principal, role)."""
    depth: dict[str, int]
    paths: list[list[str]]
    """The shortest chain to each entity reached, from the start outwards."""


def _walk(start: Entity, edges: Iterable[tuple[Entity, Entity]], *, backwards: bool) -> Walk:
    step: dict[str, list[Entity]] = {}
    for who, target in edges:
        src, dst = (target, who) if backwards else (who, target)
        step.setdefault(src.arn, []).append(dst)
    depth = {start.arn: 0}
    chains: dict[str, list[str]] = {start.arn: [_short(start.arn)]}
    order: list[str] = []
    queue = deque([start])
    kept: list[tuple[Entity, Entity]] = []
    while queue:
        current = queue.popleft()
        for nxt in step.get(current.arn, []):
            kept.append((nxt, current) if backwards else (current, nxt))
            if nxt.arn not in depth:
                depth[nxt.arn] = depth[current.arn] + 1
                chains[nxt.arn] = [*chains[current.arn], _short(nxt.arn)]
                order.append(nxt.arn)
                queue.append(nxt)
    paths = [list(reversed(chains[a])) if backwards else chains[a] for a in order]
    return Walk(kept, depth, paths)


def who_can_assume(rt: Runtime, found: Principals, role_name: str) -> Graph | None:
    """Every user and role that can reach the role, directly or through a chain of roles."""
    role = found.role(role_name)
    if role is None:
        return None
    walk = _walk(role, assume_edges(rt, found), backwards=True)
    title = f"Who can assume {role.name}"
    return _graph(title, walk, reverse=True, external=external_trust(role, found))


def reachable_roles(rt: Runtime, found: Principals, user_name: str) -> Graph | None:
    """Every role the user can assume, directly or by chaining from role to role."""
    user = found.user(user_name)
    if user is None:
        return None
    walk = _walk(user, assume_edges(rt, found), backwards=False)
    return _graph(f"Roles {user.name} can reach", walk, reverse=False)


def _short(arn: str) -> str:
    resource = arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    return f"{kind} {rest.rsplit('/', 1)[-1]}"


NODE_W, NODE_H, COL_GAP, ROW_GAP = 220, 36, 70, 18


def _graph(title: str, walk: Walk, *, reverse: bool, external: list[str] | None = None) -> Graph:
    """A layered drawing: one column per hop, arrows in the direction of AssumeRole.  Principals
    the trust policy names outside the account's users and roles (``external``) stand in the
    column before the role, with dashed arrows: whether they may assume it depends on them."""
    depth, edges, paths = walk.depth, walk.edges, walk.paths
    outside = list(external or []) if reverse else []
    max_depth = max(depth.values(), default=0)
    shift = 1 if outside and max_depth == 0 else 0
    column = {arn: (max_depth - d if reverse else d) + shift for arn, d in depth.items()}
    rows: dict[int, list[str]] = {}
    for arn in sorted(depth, key=lambda a: (column[a], a)):
        rows.setdefault(column[arn], []).append(arn)
    start = next(arn for arn, d in depth.items() if d == 0)
    outside_column = column[start] - 1
    inside_before = len(rows.get(outside_column, []))

    def at(col: int, row: int) -> tuple[int, int]:
        return 20 + col * (NODE_W + COL_GAP), 20 + row * (NODE_H + ROW_GAP)

    pos = {arn: at(col, i) for col, arns in rows.items() for i, arn in enumerate(arns)}
    columns = max_depth + 1 + shift
    tallest = max([len(a) for a in rows.values()] + [inside_before + len(outside)])
    width = 40 + columns * NODE_W + (columns - 1) * COL_GAP
    height = 40 + tallest * (NODE_H + ROW_GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'role="img" aria-labelledby="graph-title" class="graph"><title id="graph-title">{escape(title)}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>',
    ]
    seen: set[tuple[str, str]] = set()
    node_list: list[tuple[str, str, int]] = []
    index = {arn: i for i, arn in enumerate(sorted(depth))}
    edge_list: list[tuple[int, int]] = []

    def arrow(x1: int, y1: int, x2: int, y2: int, data: str, dashed: bool = False) -> None:
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        parts.append(
            f'<line class="edge" {data} x1="{x1 + NODE_W}" y1="{y1 + NODE_H // 2}" x2="{x2}" '
            f'y2="{y2 + NODE_H // 2}" stroke="#57606a" stroke-width="1.5"{dash} marker-end="url(#arrow)"/>'
        )

    def node(x: int, y: int, label: str, fill: str) -> None:
        parts.append(
            f'<g class="node" data-name="{escape(label)}"><title>{escape(label)}</title><rect x="{x}" y="{y}" '
            f'width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="#57606a"/><text x="{x + 10}" '
            f'y="{y + 23}" font-size="14" font-family="system-ui, sans-serif">{escape(_clip(label))}</text></g>'
        )

    for who, target in edges:
        if (who.arn, target.arn) in seen or who.arn not in pos or target.arn not in pos:
            continue
        seen.add((who.arn, target.arn))
        edge_list.append((index[who.arn], index[target.arn]))
        data = f'data-from="{escape(_short(who.arn))}" data-to="{escape(_short(target.arn))}"'
        arrow(*pos[who.arn], *pos[target.arn], data)
    for i, label in enumerate(outside):
        x, y = at(outside_column, inside_before + i)
        arrow(x, y, *pos[start], f'data-from="{escape(label)}" data-to="{escape(_short(start))}"', dashed=True)
        node(x, y, label, "#eaeef2")
        node_list.append(("external", label, outside_column))
    for arn in sorted(depth):
        label = _short(arn)
        kind = label.split(" ", 1)[0]
        node_list.append((kind, label.split(" ", 1)[1], column[arn]))
        node(*pos[arn], label, "#ddf4ff" if kind == "role" else "#fff8c5")
    parts.append("</svg>")
    return Graph(title, node_list, edge_list, "".join(parts), paths, outside)


def _clip(label: str, limit: int = 27) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# --- text helpers ---------------------------------------------------------------------------------------------


def pretty(document: str) -> str:
    """A stored document indented for reading (as stored when it is not JSON)."""
    try:
        return json.dumps(json.loads(document), indent=2)
    except ValueError:
        return document


def diff(old: str, new: str) -> list[tuple[str, str]]:
    """A line diff of two documents (both indented the same way): (``+``/``-``/`` ``, line)."""
    out = []
    for line in difflib.ndiff(pretty(old).splitlines(), pretty(new).splitlines()):
        tag = line[:1]
        if tag in "+- ":
            out.append((tag, line[2:]))
    return out
