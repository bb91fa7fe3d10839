"""The Python API: principals, context keys, compiled policies, decisions and AccessDenied messages."""

from __future__ import annotations

import json

import pytest

from iamd.core.errors import MalformedPolicyDocument
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy import (
    Decision,
    Effect,
    EvaluationRequest,
    PolicyKind,
    PolicyType,
    PrincipalType,
    access_denied_message,
    compile_policy,
    describe_principal,
    evaluate,
    from_core_principal,
    principal_context,
)
from iamd.policy.compile import cache_clear

A = "111122223333"
USER = f"arn:aws:iam::{A}:user/dev/alice"
NOW = 1714521600.0  # 2024-05-01T00:00:00Z


def policy(*statements: dict[str, object], **kw: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, **kw)  # type: ignore[arg-type]


def allow(action: str | list[str] = "s3:GetObject", resource: str = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_describe_principal_kinds() -> None:
    user = describe_principal(USER, tags={"team": "blue"})
    assert (user.type, user.account, user.name, user.tags) == (PrincipalType.USER, A, "alice", {"team": "blue"})
    root = describe_principal(A)
    assert (root.type, root.arn, root.account) == (PrincipalType.ROOT, f"arn:aws:iam::{A}:root", A)
    session = describe_principal(f"arn:aws:sts::{A}:assumed-role/app/s-1")
    assert session.type is PrincipalType.ROLE_SESSION
    assert (session.role_arn, session.session_name, session.name) == (f"arn:aws:iam::{A}:role/app", "s-1", "app")
    with_path = describe_principal(f"arn:aws:sts::{A}:assumed-role/app/s", role_arn=f"arn:aws:iam::{A}:role/x/app")
    assert with_path.role_arn == f"arn:aws:iam::{A}:role/x/app"
    fed = describe_principal(f"arn:aws:sts::{A}:federated-user/fred", source_user_arn=USER)
    assert (fed.type, fed.name, fed.source_user_arn) == (PrincipalType.FEDERATED_USER, "fred", USER)
    service = describe_principal("lambda.amazonaws.com")
    assert (service.type, service.arn, service.account) == (PrincipalType.SERVICE, "lambda.amazonaws.com", None)
    anonymous = describe_principal("anonymous")
    assert (anonymous.type, anonymous.arn) == (PrincipalType.ANONYMOUS, "")
    cn = describe_principal(f"arn:aws-cn:iam::{A}:user/bob")
    assert cn.partition == "aws-cn"


def test_a_role_arn_describes_a_session_of_the_role() -> None:
    """AWS's simulator takes a role as the policy source: the caller is a session of that role."""
    role = f"arn:aws:iam::{A}:role/team/app"
    session = describe_principal(role, unique_id="AROAEXAMPLEROLEID0001")
    assert session.type is PrincipalType.ROLE_SESSION
    assert (session.arn, session.role_arn, session.name) == (
        f"arn:aws:sts::{A}:assumed-role/app/iamd-policy-evaluation",
        role,
        "app",
    )
    context = principal_context(session)
    assert context["aws:PrincipalArn"] == role
    assert context["aws:PrincipalType"] == "AssumedRole"
    assert context["aws:userid"] == "AROAEXAMPLEROLEID0001:iamd-policy-evaluation"
    named = describe_principal(role, session_name="alice@example.com")
    assert named.arn == f"arn:aws:sts::{A}:assumed-role/app/alice@example.com"
    with pytest.raises(ValueError):
        describe_principal(role, session_name="x")
    with pytest.raises(ValueError):
        describe_principal(role, role_arn=f"arn:aws:iam::{A}:role/app")


@pytest.mark.parametrize(
    "bad",
    [
        f"arn:aws:iam::{A}:role/",
        f"arn:aws:iam::{A}:group/admins",
        f"arn:aws:s3:::{A}",
        "arn:aws:iam::12345:user/x",
        f"arn:aws:sts::{A}:assumed-role/app",
        "bob",
        "arn:aws",
    ],
)
def test_describe_principal_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        describe_principal(bad)


def test_describe_principal_account_must_agree() -> None:
    with pytest.raises(ValueError):
        describe_principal(USER, account="444455556666")
    assert describe_principal(USER, account=A).account == A


def test_from_core_principal() -> None:
    core = Principal(
        kind=PrincipalKind.ASSUMED_ROLE,
        account_id=A,
        arn=f"arn:aws:sts::{A}:assumed-role/app/s1",
        user_id="AROAEXAMPLE:s1",
        name="app",
        access_key_id="ASIAEXAMPLE",
        session_name="s1",
    )
    d = from_core_principal(core, tags={"k": "v"}, unique_id="AROAEXAMPLE")
    assert d.type is PrincipalType.ROLE_SESSION
    assert (d.role_arn, d.user_id, d.unique_id, d.tags) == (
        f"arn:aws:iam::{A}:role/app",
        "AROAEXAMPLE:s1",
        "AROAEXAMPLE",
        {"k": "v"},
    )
    root = Principal(PrincipalKind.ROOT, A, f"arn:aws:iam::{A}:root", A, A, "AKIA")
    assert from_core_principal(root).type is PrincipalType.ROOT


def test_principal_context() -> None:
    user = describe_principal(USER, tags={"team": "blue"}, unique_id="AIDAEXAMPLE")
    assert principal_context(user, NOW, "444455556666") == {
        "aws:PrincipalIsAWSService": "false",
        "aws:PrincipalType": "User",
        "aws:PrincipalArn": USER,
        "aws:PrincipalAccount": A,
        "aws:username": "alice",
        "aws:userid": "AIDAEXAMPLE",
        "aws:CurrentTime": "2024-05-01T00:00:00Z",
        "aws:EpochTime": "1714521600",
        "aws:ResourceAccount": "444455556666",
        "aws:PrincipalTag/team": "blue",
    }
    session = principal_context(
        describe_principal(f"arn:aws:sts::{A}:assumed-role/app/s1", unique_id="AROAX", source_identity="carol")
    )
    assert session["aws:PrincipalArn"] == f"arn:aws:iam::{A}:role/app"
    assert session["aws:userid"] == "AROAX:s1"
    assert session["aws:PrincipalType"] == "AssumedRole"
    assert session["aws:SourceIdentity"] == "carol"
    assert "aws:username" not in session
    root = principal_context(describe_principal(A))
    assert (root["aws:PrincipalType"], root["aws:userid"], root["aws:PrincipalArn"]) == (
        "Account",
        A,
        f"arn:aws:iam::{A}:root",
    )
    fed = principal_context(describe_principal(f"arn:aws:sts::{A}:federated-user/fred"))
    assert (fed["aws:PrincipalType"], fed["aws:userid"]) == ("FederatedUser", f"{A}:fred")
    service = principal_context(describe_principal("sns.amazonaws.com"))
    assert service == {"aws:PrincipalIsAWSService": "true", "aws:PrincipalServiceName": "sns.amazonaws.com"}
    anonymous = principal_context(describe_principal("anonymous"))
    assert anonymous == {
        "aws:PrincipalIsAWSService": "false",
        "aws:PrincipalType": "Anonymous",
        "aws:userid": "anonymous",
    }


def test_derive_context_can_be_turned_off() -> None:
    doc = policy(allow(Condition={"StringEquals": {"aws:username": "alice"}}))
    request = EvaluationRequest(
        principal=describe_principal(USER),
        action="s3:GetObject",
        resource="arn:aws:s3:::b/k",
        identity_policies=[compile_policy(doc)],
    )
    assert evaluate(request).allowed
    from dataclasses import replace

    assert not evaluate(replace(request, derive_context=False)).allowed
    assert evaluate(replace(request, derive_context=False, context={"AWS:USERNAME": "alice"})).allowed


def test_compiled_policies_are_cached_by_content() -> None:
    cache_clear()
    text = policy(allow())
    first = compile_policy(text, policy_id="one")
    second = compile_policy(text, policy_id="two")
    assert first.body is second.body
    assert (first.policy_id, second.policy_id) == ("one", "two")
    from_dict = compile_policy(json.loads(text))
    assert from_dict.body is compile_policy({"Statement": [allow()], "Version": "2012-10-17"}).body
    assert compile_policy(first) is first
    assert compile_policy(first, policy_id="three").body is first.body
    assert compile_policy(text, kind=PolicyKind.MANAGED).body is not first.body
    with pytest.raises(MalformedPolicyDocument):
        compile_policy("{}")
    with pytest.raises(MalformedPolicyDocument):
        compile_policy({"Statement": [allow()], "Bad": {1, 2}})


def test_statements_are_indexed_by_service() -> None:
    compiled = compile_policy(
        policy(
            allow("s3:GetObject"),
            allow(["ec2:Describe*", "S3:Put*"]),
            {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
            allow("*"),
            allow("sqs:*"),
        )
    )
    assert [s.index for s in compiled.body.candidates("s3")] == [0, 1, 2, 3]
    assert [s.index for s in compiled.body.candidates("ec2")] == [1, 2, 3]
    assert [s.index for s in compiled.body.candidates("kms")] == [2, 3]


def test_decision_carries_lines_and_json() -> None:
    text = policy(
        allow(Sid="Read"), {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::secret/*"}, indent=2
    )
    compiled = compile_policy(text, policy_id="arn:aws:iam::111122223333:policy/P")
    principal = describe_principal(USER)
    ok = evaluate(EvaluationRequest(principal, "s3:GetObject", "arn:aws:s3:::b/k", identity_policies=[compiled]))
    assert ok.allowed and ok.statements[0].line == 4 and ok.statements[0].ref == "Read"
    assert ok.as_json()["matched_statements"] == [
        {
            "policy_type": "identity",
            "policy_id": "arn:aws:iam::111122223333:policy/P",
            "statement_index": 0,
            "sid": "Read",
            "effect": "Allow",
            "line": 4,
        }
    ]
    denied = evaluate(
        EvaluationRequest(principal, "s3:GetObject", "arn:aws:s3:::secret/k", identity_policies=[compiled])
    )
    assert denied.effect is Effect.EXPLICIT_DENY
    assert denied.statements[0].ref == "arn:aws:iam::111122223333:policy/P[1]"
    assert denied.as_json()["denied_by"] == "identity"


def test_supporting_statements() -> None:
    principal = describe_principal(f"arn:aws:sts::{A}:assumed-role/app/s")
    decision = evaluate(
        EvaluationRequest(
            principal,
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            identity_policies=[compile_policy(policy(allow()), policy_id="id")],
            permissions_boundaries=[compile_policy(policy(allow("s3:*")), policy_id="pb")],
            session_policies=[compile_policy(policy(allow("*")), policy_id="sp")],
            service_control_policies=[[compile_policy(policy(allow("*")), policy_id="scp", kind=PolicyKind.SCP)]],
        )
    )
    assert decision.allowed
    assert [s.policy_id for s in decision.statements] == ["id"]
    assert sorted(s.policy_id for s in decision.supporting) == ["pb", "scp", "sp"]
    assert [s.level for s in decision.supporting if s.policy_type is PolicyType.SERVICE_CONTROL] == [0]


def _decision(effect: Effect, ptype: PolicyType | None) -> Decision:
    return Decision(effect, "iam:CreateUser", ptype)


@pytest.mark.parametrize(
    ("effect", "ptype", "reason"),
    [
        (
            Effect.IMPLICIT_DENY,
            PolicyType.IDENTITY,
            "because no identity-based policy allows the iam:CreateUser action",
        ),
        (Effect.EXPLICIT_DENY, PolicyType.IDENTITY, "with an explicit deny in an identity-based policy"),
        (
            Effect.IMPLICIT_DENY,
            PolicyType.PERMISSIONS_BOUNDARY,
            "because no permissions boundary allows the iam:CreateUser action",
        ),
        (Effect.IMPLICIT_DENY, PolicyType.SESSION, "because no session policy allows the iam:CreateUser action"),
        (Effect.EXPLICIT_DENY, PolicyType.SERVICE_CONTROL, "with an explicit deny in a service control policy"),
        (
            Effect.IMPLICIT_DENY,
            PolicyType.SERVICE_CONTROL,
            "because no service control policy allows the iam:CreateUser action",
        ),
        (Effect.EXPLICIT_DENY, PolicyType.RESOURCE_CONTROL, "with an explicit deny in a resource control policy"),
        (
            Effect.IMPLICIT_DENY,
            PolicyType.RESOURCE,
            "because no resource-based policy allows the iam:CreateUser action",
        ),
        (Effect.EXPLICIT_DENY, PolicyType.RESOURCE, "with an explicit deny in a resource-based policy"),
        (Effect.EXPLICIT_DENY, PolicyType.SESSION, "with an explicit deny in a session policy"),
        (Effect.EXPLICIT_DENY, PolicyType.PERMISSIONS_BOUNDARY, "with an explicit deny in a permissions boundary"),
    ],
)
def test_access_denied_message(effect: Effect, ptype: PolicyType, reason: str) -> None:
    decision = _decision(effect, ptype)
    assert decision.reason == reason
    resource = f"arn:aws:iam::{A}:user/eve"
    assert access_denied_message(USER, "iam:CreateUser", resource, decision) == (
        f"User: {USER} is not authorized to perform: iam:CreateUser on resource: {resource} {reason}"
    )


def test_access_denied_message_without_resource_or_principal() -> None:
    decision = _decision(Effect.IMPLICIT_DENY, PolicyType.IDENTITY)
    assert access_denied_message("", "iam:CreateUser", "", decision) == (
        "User: anonymous is not authorized to perform: iam:CreateUser "
        "because no identity-based policy allows the iam:CreateUser action"
    )


def test_end_to_end_message() -> None:
    principal = describe_principal(USER)
    decision = evaluate(EvaluationRequest(principal, "iam:ListUsers", f"arn:aws:iam::{A}:user/"))
    assert decision.effect is Effect.IMPLICIT_DENY and not decision.allowed
    assert access_denied_message(principal.arn, "iam:ListUsers", f"arn:aws:iam::{A}:user/", decision) == (
        f"User: {USER} is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::{A}:user/ "
        "because no identity-based policy allows the iam:ListUsers action"
    )


def test_shipped_aws_managed_policies_evaluate() -> None:
    from iamd.services.iam import aws_managed

    by_name = {p.name: p for p in aws_managed.load()}
    user = describe_principal(USER)

    def decide(name: str, action: str, resource: str) -> Effect:
        compiled = compile_policy(by_name[name].document, policy_id=name, kind=PolicyKind.MANAGED)
        return evaluate(EvaluationRequest(user, action, resource, identity_policies=[compiled])).effect

    assert decide("AdministratorAccess", "iam:CreateUser", "*") is Effect.ALLOW
    assert decide("IAMReadOnlyAccess", "iam:GetUser", USER) is Effect.ALLOW
    assert decide("IAMReadOnlyAccess", "iam:CreateUser", USER) is Effect.IMPLICIT_DENY
    assert decide("IAMUserChangePassword", "iam:ChangePassword", USER) is Effect.ALLOW
    assert decide("IAMUserChangePassword", "iam:ChangePassword", f"arn:aws:iam::{A}:user/bob") is Effect.IMPLICIT_DENY
    assert decide("PowerUserAccess", "ec2:RunInstances", "*") is Effect.ALLOW
    assert decide("PowerUserAccess", "iam:CreateUser", "*") is Effect.IMPLICIT_DENY
