"""Properties of the decision logic, over generated policies and requests (hypothesis).

* an explicit deny always wins;
* adding a permissions boundary, or session policies to a role session that had none, never widens access;
* removing an Allow statement never turns a denial into an Allow;
* evaluation never raises on documents that passed validation.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iamd.core.errors import MalformedPolicyDocument
from iamd.policy import (
    Effect,
    EvaluationRequest,
    PolicyKind,
    PrincipalType,
    compile_policy,
    describe_principal,
    evaluate,
)

A = "111122223333"
B = "444455556666"
ACTIONS = ["s3:GetObject", "s3:PutObject", "ec2:RunInstances", "iam:CreateUser", "sts:AssumeRole", "S3:getobject"]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "s3:Get*", "ec2:*", "*", "iam:*User*", "s3:?etObject", "sqs:*"]
RESOURCES = [
    "arn:aws:s3:::bucket/key",
    "arn:aws:s3:::bucket/alice/x",
    "arn:aws:s3:::other/key",
    f"arn:aws:iam::{A}:user/bob",
    f"arn:aws:sqs:us-east-1:{A}:queue",
    "*",
]
RESOURCE_PATTERNS = [
    *RESOURCES,
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::bucket/${aws:username}/*",
    "arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'x'}/*",
    "arn:aws:sqs:*:*:*",
    "arn:aws:iam::*:user/*",
    "arn:aws:sqs:*:*:q*",
]
PRINCIPALS = [
    f"arn:aws:iam::{A}:user/alice",
    f"arn:aws:iam::{A}:user/bob",
    f"arn:aws:sts::{A}:assumed-role/app/s1",
    f"arn:aws:sts::{A}:federated-user/fred",
    f"arn:aws:iam::{B}:user/eve",
    f"arn:aws:iam::{A}:root",
    "sns.amazonaws.com",
    "anonymous",
]
PRINCIPAL_ELEMENTS: list[Any] = [
    "*",
    {"AWS": "*"},
    {"AWS": A},
    {"AWS": B},
    {"AWS": f"arn:aws:iam::{A}:root"},
    {"AWS": f"arn:aws:iam::{A}:user/alice"},
    {"AWS": f"arn:aws:iam::{A}:role/app"},
    {"AWS": f"arn:aws:sts::{A}:assumed-role/app/s1"},
    {"AWS": f"arn:aws:sts::{A}:federated-user/fred"},
    {"AWS": [f"arn:aws:iam::{B}:user/eve", A]},
    {"Service": "sns.amazonaws.com"},
]
KEYS = ["aws:SourceIp", "aws:SecureTransport", "aws:TagKeys", "s3:prefix", "aws:PrincipalTag/team", "aws:username"]
CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
    {"StringNotEquals": {"aws:username": ["alice", "bob"]}},
    {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "pub*"]}},
    {"StringEqualsIgnoreCaseIfExists": {"aws:PrincipalTag/team": "BLUE"}},
    {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
    {"NotIpAddress": {"aws:SourceIp": "10.1.0.0/16"}},
    {"Bool": {"aws:SecureTransport": "false"}},
    {"BoolIfExists": {"aws:MultiFactorAuthPresent": True}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "c*"}},
    {"NumericLessThan": {"s3:max-keys": 10}},
    {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
    {"DateGreaterThanIfExists": {"aws:TokenIssueTime": "2020-01-01"}},
    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:*"}},
    {"ArnNotEqualsIfExists": {"aws:SourceArn": "arn:aws:sns:*:*:t"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"BinaryEquals": {"test:blob": "QUJD"}},
    {"ForAllValues:NumericGreaterThanIfExists": {"test:n": "3"}},
]
CONTEXT_VALUES: dict[str, Any] = {
    "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1", "2001:db8::1", "not-an-ip"]),
    "aws:SecureTransport": st.sampled_from(["true", "false", "maybe"]),
    "aws:TagKeys": st.lists(st.sampled_from(["a", "b", "c1", ""]), max_size=3),
    "s3:prefix": st.sampled_from(["home/alice/x", "pub/1", "", "home/*/x"]),
    "s3:max-keys": st.sampled_from(["1", "10", "1e3", "x"]),
    "test:n": st.lists(st.sampled_from(["1", "5", "nan", "-0"]), max_size=3),
    "aws:TokenIssueTime": st.sampled_from(["2024-01-01T00:00:00Z", "1700000000", "garbage"]),
    "test:blob": st.sampled_from(["QUJD", "!!", ""]),
}


@st.composite
def statements(draw: st.DrawFn, resource_policy: bool = False, effect: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    if draw(st.booleans()):
        out["Sid"] = draw(st.sampled_from(["A", "B", "C", "D1", "E2"]))
    actions = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
    out["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = actions
    resources = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3))
    out["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = resources
    if resource_policy:
        element = draw(st.sampled_from(PRINCIPAL_ELEMENTS))
        out["NotPrincipal" if draw(st.integers(0, 6)) == 0 else "Principal"] = element
    if draw(st.booleans()):
        condition: dict[str, Any] = {}
        for part in draw(st.lists(st.sampled_from(CONDITIONS), max_size=3)):
            condition.update(part)
        out["Condition"] = condition
    return out


@st.composite
def documents(draw: st.DrawFn, resource_policy: bool = False) -> dict[str, Any]:
    stmts = draw(st.lists(statements(resource_policy), min_size=1, max_size=4))
    sids = [s.get("Sid") for s in stmts]
    for i, s in enumerate(stmts):
        if s.get("Sid") and sids.count(s["Sid"]) > 1:
            s["Sid"] = f"{s['Sid']}x{i}"
    return {"Version": draw(st.sampled_from(["2012-10-17", "2012-10-17", "2008-10-17"])), "Statement": stmts}


def _compile(doc: dict[str, Any], pid: str, kind: PolicyKind = PolicyKind.IDENTITY) -> Any:
    return compile_policy(json.dumps(doc), policy_id=pid, kind=kind)


@st.composite
def requests(draw: st.DrawFn) -> EvaluationRequest:
    arn = draw(st.sampled_from(PRINCIPALS))
    tags = draw(st.sampled_from([{}, {"team": "blue"}, {"Team": "red"}]))
    principal = describe_principal(arn, tags=tags, unique_id="AROAEXAMPLE" if "assumed-role" in arn else None)
    context = {k: draw(v) for k, v in CONTEXT_VALUES.items() if draw(st.booleans())}
    return EvaluationRequest(
        principal=principal,
        action=draw(st.sampled_from(ACTIONS)),
        resource=draw(st.sampled_from(RESOURCES)),
        context=context,
        identity_policies=[_compile(d, f"id{i}") for i, d in enumerate(draw(st.lists(documents(), max_size=3)))],
        resource_policy=draw(
            st.none() | documents(resource_policy=True).map(lambda d: _compile(d, "rp", PolicyKind.RESOURCE))
        ),
        permissions_boundaries=[_compile(d, "pb") for d in draw(st.lists(documents(), max_size=1))],
        session_policies=[_compile(d, f"sp{i}") for i, d in enumerate(draw(st.lists(documents(), max_size=2)))],
        service_control_policies=[
            [_compile(d, f"scp{i}", PolicyKind.SCP) for d in level]
            for i, level in enumerate(draw(st.lists(st.lists(documents(), min_size=1, max_size=2), max_size=2)))
        ],
        resource_account=draw(st.sampled_from([None, A, B])),
        resource_policy_required=draw(st.booleans()),
        now=draw(st.sampled_from([None, 1714521600.0])),
    )


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "DenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}
DENY_ALL_RP = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}],
}


@FAST
@given(requests())
def test_evaluation_never_raises(request: EvaluationRequest) -> None:
    decision = evaluate(request)
    assert decision.effect in Effect
    assert (decision.policy_type is None) == (decision.effect is Effect.ALLOW)


@FAST
@given(requests())
def test_an_explicit_deny_always_wins(request: EvaluationRequest) -> None:
    rp = request.resource_policy
    statements_rp = list(rp.policy.statements) if rp is not None else []
    merged = json.loads(json.dumps(DENY_ALL_RP))
    if rp is not None:
        merged["Statement"] = [DENY_ALL_RP["Statement"][0], *[_statement_json(s) for s in statements_rp]]
        merged["Version"] = rp.policy.version or "2012-10-17"
    with_rp_deny = replace(request, resource_policy=_compile(merged, "rp", PolicyKind.RESOURCE))
    decision = evaluate(with_rp_deny)
    assert decision.effect is Effect.EXPLICIT_DENY
    assert any(s.sid == "DenyAll" for s in decision.statements)
    if request.principal.type.is_iam_identity:
        with_identity_deny = replace(
            request, identity_policies=[*request.identity_policies, _compile(DENY_ALL, "deny")]
        )
        assert evaluate(with_identity_deny).effect is Effect.EXPLICIT_DENY


def _statement_json(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": s.effect}
    if s.sid:
        out["Sid"] = s.sid + "Orig"
    for key, value in (
        ("Action", s.actions),
        ("NotAction", s.not_actions),
        ("Resource", s.resources),
        ("NotResource", s.not_resources),
    ):
        if value is not None:
            out[key] = list(value)
    for key, spec in (("Principal", s.principal), ("NotPrincipal", s.not_principal)):
        if spec is not None:
            element: dict[str, Any] = {}
            for name, values in (
                ("AWS", spec.aws),
                ("Service", spec.service),
                ("Federated", spec.federated),
                ("CanonicalUser", spec.canonical_user),
            ):
                if values:
                    element[name] = list(values)
            out[key] = element or "*"
    if s.conditions:
        condition: dict[str, dict[str, list[str]]] = {}
        for c in s.conditions:
            condition.setdefault(c.operator.text, {})[c.key] = list(c.values)
        out["Condition"] = condition
    return out


@FAST
@given(requests(), documents())
def test_adding_a_boundary_never_widens(request: EvaluationRequest, boundary: dict[str, Any]) -> None:
    before = evaluate(request)
    after = evaluate(
        replace(request, permissions_boundaries=[*request.permissions_boundaries, _compile(boundary, "b")])
    )
    if before.effect is not Effect.ALLOW:
        assert after.effect is not Effect.ALLOW


@FAST
@given(requests(), st.lists(documents(), min_size=1, max_size=2))
def test_adding_session_policies_never_widens(request: EvaluationRequest, session: list[dict[str, Any]]) -> None:
    base = replace(request, session_policies=[])
    if base.principal.type is PrincipalType.FEDERATED_USER:
        return  # a federated user without a session policy has no permissions at all (AWS)
    before = evaluate(base)
    after = evaluate(replace(base, session_policies=[_compile(d, f"s{i}") for i, d in enumerate(session)]))
    if before.effect is not Effect.ALLOW:
        assert after.effect is not Effect.ALLOW


@FAST
@given(requests(), st.data())
def test_removing_an_allow_never_grants(request: EvaluationRequest, data: st.DataObject) -> None:
    before = evaluate(request)
    if before.effect is Effect.ALLOW:
        return
    slots: list[tuple[str, int]] = [("identity", i) for i in range(len(request.identity_policies))]
    slots += [("boundary", i) for i in range(len(request.permissions_boundaries))]
    slots += [("session", i) for i in range(len(request.session_policies))]
    if request.resource_policy is not None:
        slots.append(("resource", 0))
    slots = [s for s in slots if len(_policy_at(request, s).policy.statements) > 1]
    if not slots:
        return
    slot = data.draw(st.sampled_from(slots))
    policy = _policy_at(request, slot)
    allows = [i for i, s in enumerate(policy.policy.statements) if s.allow]
    if not allows:
        return
    drop = data.draw(st.sampled_from(allows))
    kept = [_statement_json(s) for i, s in enumerate(policy.policy.statements) if i != drop]
    smaller = _compile(
        {"Version": policy.policy.version or "2012-10-17", "Statement": kept}, policy.policy_id, policy.kind
    )
    after = evaluate(_replace_at(request, slot, smaller))
    assert after.effect is not Effect.ALLOW


def _policy_at(request: EvaluationRequest, slot: tuple[str, int]) -> Any:
    kind, i = slot
    if kind == "identity":
        return request.identity_policies[i]
    if kind == "boundary":
        return request.permissions_boundaries[i]
    if kind == "session":
        return request.session_policies[i]
    return request.resource_policy


def _replace_at(request: EvaluationRequest, slot: tuple[str, int], policy: Any) -> EvaluationRequest:
    kind, i = slot
    if kind == "resource":
        return replace(request, resource_policy=policy)
    if kind == "identity":
        return replace(request, identity_policies=_swap(request.identity_policies, i, policy))
    if kind == "boundary":
        return replace(request, permissions_boundaries=_swap(request.permissions_boundaries, i, policy))
    return replace(request, session_policies=_swap(request.session_policies, i, policy))


def _swap(items: Any, i: int, policy: Any) -> list[Any]:
    out = list(items)
    out[i] = policy
    return out


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20)
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(PolicyKind)),
    st.lists(st.sampled_from(list(CONDITIONS)), max_size=4),
    st.dictionaries(st.sampled_from(list(CONTEXT_VALUES) + KEYS), st.text(max_size=12) | st.lists(st.text(max_size=8))),
    st.sampled_from(PRINCIPALS),
    st.sampled_from([*RESOURCES, "", "arn:aws:s3:::", "::::::", "arn:aws:s3:::a:b:c"]),
)
def test_any_validated_document_evaluates(
    kind: PolicyKind, conditions: list[dict[str, Any]], context: dict[str, Any], arn: str, resource: str
) -> None:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    if kind in (PolicyKind.TRUST, PolicyKind.RESOURCE, PolicyKind.RCP):
        statement["Principal"] = "*"
    if kind is PolicyKind.TRUST:
        statement["Action"] = "sts:*"
        del statement["Resource"]
    merged: dict[str, Any] = {}
    for part in conditions:
        merged.update(part)
    if merged:
        statement["Condition"] = merged
    try:
        policy = compile_policy({"Version": "2012-10-17", "Statement": [statement]}, kind=kind)
    except MalformedPolicyDocument:
        return
    request = EvaluationRequest(
        principal=describe_principal(arn),
        action="sts:AssumeRole",
        resource=resource,
        context=context,
        identity_policies=[policy] if policy.kind not in (PolicyKind.TRUST, PolicyKind.RESOURCE) else [],
        resource_policy=policy if policy.kind in (PolicyKind.TRUST, PolicyKind.RESOURCE) else None,
    )
    evaluate(request)
