"""The policy simulator (SimulatePrincipalPolicy, SimulateCustomPolicy, GetContextKeysFor*Policy)
against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import Server

ACCOUNT = "123456789012"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)

# Multi-line, 2-space indented: the statement starts just after "[" (line 3, column 17) and ends
# just after its "}" (line 8, column 6), as AWS's simulator reports positions.
S3_READ = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::bucket/*"
    }
  ]
}"""


def compact(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, separators=(",", ":"))


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def by_action(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["EvalActionName"]: r for r in response["EvaluationResults"]}


def sources(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["SourcePolicyId"], s["SourcePolicyType"]) for s in result["MatchedStatements"]]


def make_alice(iam: Any) -> None:
    """alice: an inline policy, an attached customer policy, and a group with inline + AWS managed policies."""
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="S3Read", PolicyDocument=S3_READ)
    arn = iam.create_policy(PolicyName="Ec2Start", PolicyDocument=compact(allow("ec2:StartInstances")))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    iam.put_group_policy(
        GroupName="devs",
        PolicyName="NoDelete",
        PolicyDocument=compact(allow("s3:DeleteObject"), deny("s3:DeleteObject", "arn:aws:s3:::bucket/*")),
    )
    iam.attach_group_policy(GroupName="devs", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")


# --- SimulatePrincipalPolicy: a user's own, attached and group policies --------------------------


def test_user_policies_decide(iam: Any) -> None:
    make_alice(iam)
    out = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN,
        ActionNames=["s3:GetObject", "s3:DeleteObject", "ec2:StartInstances", "iam:GetUser", "ec2:RunInstances"],
    )
    assert out["IsTruncated"] is False
    results = by_action(out)
    assert list(results) == ["s3:GetObject", "s3:DeleteObject", "ec2:StartInstances", "iam:GetUser", "ec2:RunInstances"]
    for result in results.values():
        assert result["EvalResourceName"] == "*"
        assert result["MissingContextValues"] == []
        assert "ResourceSpecificResults" not in result
        assert "EvalDecisionDetails" not in result
        assert "PermissionsBoundaryDecisionDetail" not in result

    # the statement's resource is bucket/*: on "*" it does not apply
    assert results["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    assert results["s3:GetObject"]["MatchedStatements"] == []
    # the group's Deny is on bucket/* too: its Allow on "*" grants
    assert results["s3:DeleteObject"]["EvalDecision"] == "allowed"
    assert sources(results["s3:DeleteObject"]) == [("group_devs_NoDelete", "IAM Policy")]
    assert results["ec2:StartInstances"]["EvalDecision"] == "allowed"
    assert sources(results["ec2:StartInstances"]) == [("Ec2Start", "IAM Policy")]
    assert results["iam:GetUser"]["EvalDecision"] == "allowed"
    assert sources(results["iam:GetUser"]) == [("IAMReadOnlyAccess", "IAM Policy")]
    assert results["ec2:RunInstances"]["EvalDecision"] == "implicitDeny"
    assert results["ec2:RunInstances"]["MatchedStatements"] == []


def test_user_policies_on_a_resource(iam: Any) -> None:
    make_alice(iam)
    out = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN,
        ActionNames=["s3:GetObject", "s3:DeleteObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::bucket/key"],
    )
    results = by_action(out)
    get = results["s3:GetObject"]
    assert get["EvalDecision"] == "allowed"
    assert get["EvalResourceName"] == "arn:aws:s3:::bucket/key"
    assert get["MatchedStatements"] == [
        {
            "SourcePolicyId": "user_alice_S3Read",
            "SourcePolicyType": "IAM Policy",
            "StartPosition": {"Line": 3, "Column": 17},
            "EndPosition": {"Line": 8, "Column": 6},
        }
    ]
    assert get["EvalDecisionDetails"] == {}
    assert get["ResourceSpecificResults"] == [
        {
            "EvalResourceName": "arn:aws:s3:::bucket/key",
            "EvalResourceDecision": "allowed",
            "MatchedStatements": get["MatchedStatements"],
            "MissingContextValues": [],
        }
    ]
    delete = results["s3:DeleteObject"]
    assert delete["EvalDecision"] == "explicitDeny"
    # only the deny decides; compact JSON: the second statement starts right after the first's "}"
    document = compact(allow("s3:DeleteObject"), deny("s3:DeleteObject", "arn:aws:s3:::bucket/*"))
    first_end = document.index("},{") + 2
    assert delete["MatchedStatements"] == [
        {
            "SourcePolicyId": "group_devs_NoDelete",
            "SourcePolicyType": "IAM Policy",
            "StartPosition": {"Line": 1, "Column": first_end},
            "EndPosition": {"Line": 1, "Column": len(document) - 1},
        }
    ]
    assert results["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert results["s3:PutObject"]["ResourceSpecificResults"][0]["EvalResourceDecision"] == "implicitDeny"


def test_several_resources_give_one_result_per_action(iam: Any) -> None:
    make_alice(iam)
    out = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN,
        ActionNames=["s3:GetObject", "s3:DeleteObject"],
        ResourceArns=["arn:aws:s3:::bucket/a", "arn:aws:s3:::other/b"],
    )
    assert len(out["EvaluationResults"]) == 2
    results = by_action(out)
    get = results["s3:GetObject"]
    # the most restrictive decision over the resources
    assert get["EvalDecision"] == "implicitDeny"
    assert get["MatchedStatements"] == []
    assert [(r["EvalResourceName"], r["EvalResourceDecision"]) for r in get["ResourceSpecificResults"]] == [
        ("arn:aws:s3:::bucket/a", "allowed"),
        ("arn:aws:s3:::other/b", "implicitDeny"),
    ]
    assert sources(get["ResourceSpecificResults"][0]) == [("user_alice_S3Read", "IAM Policy")]
    delete = results["s3:DeleteObject"]
    assert delete["EvalDecision"] == "explicitDeny"
    assert sources(delete) == [("group_devs_NoDelete", "IAM Policy")]
    assert [r["EvalResourceDecision"] for r in delete["ResourceSpecificResults"]] == ["explicitDeny", "allowed"]


def test_extra_policy_inputs_join_the_principal_policies(iam: Any) -> None:
    make_alice(iam)
    extra = compact(deny("ec2:*"), allow("sqs:SendMessage"))
    results = by_action(
        iam.simulate_principal_policy(
            PolicySourceArn=USER_ARN,
            PolicyInputList=[extra],
            ActionNames=["ec2:StartInstances", "sqs:SendMessage"],
        )
    )
    assert results["ec2:StartInstances"]["EvalDecision"] == "explicitDeny"
    assert sources(results["ec2:StartInstances"]) == [("PolicyInputList.1", "IAM Policy")]
    assert results["sqs:SendMessage"]["EvalDecision"] == "allowed"
    assert sources(results["sqs:SendMessage"]) == [("PolicyInputList.1", "IAM Policy")]
    assert results["sqs:SendMessage"]["MatchedStatements"][0]["StartPosition"] == {
        "Line": 1,
        "Column": extra.index("},{") + 2,
    }


def test_group_and_role_sources(iam: Any) -> None:
    make_alice(iam)
    group = by_action(
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:group/devs", ActionNames=["iam:ListUsers", "ec2:StartInstances"]
        )
    )
    assert group["iam:ListUsers"]["EvalDecision"] == "allowed"
    assert sources(group["iam:ListUsers"]) == [("IAMReadOnlyAccess", "IAM Policy")]
    # the user's own policies do not belong to the group
    assert group["ec2:StartInstances"]["EvalDecision"] == "implicitDeny"

    iam.create_role(RoleName="app", Path="/svc/", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="app", PolicyName="Queue", PolicyDocument=compact(allow("sqs:*")))
    role = by_action(
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/svc/app", ActionNames=["sqs:SendMessage", "s3:GetObject"]
        )
    )
    assert role["sqs:SendMessage"]["EvalDecision"] == "allowed"
    assert sources(role["sqs:SendMessage"]) == [("role_app_Queue", "IAM Policy")]
    assert role["s3:GetObject"]["EvalDecision"] == "implicitDeny"


# --- conditions and context ---------------------------------------------------------------------


def conditional_policy() -> str:
    return compact(
        allow(
            "s3:GetObject",
            "arn:aws:s3:::home/${aws:username}/*",
            Condition={"StringEquals": {"aws:RequestTag/team": "blue"}},
        ),
        allow("ec2:StartInstances", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        allow("ec2:StopInstances", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        allow("ec2:RebootInstances", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
        allow("ec2:DescribeInstances", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow("ec2:CreateTags", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}),
    )


ALL_KEYS = [
    "aws:username",
    "aws:RequestTag/team",
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:CurrentTime",
    "aws:SourceIp",
    "aws:TagKeys",
]


def test_missing_context_values_without_entries(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="Cond", PolicyDocument=conditional_policy())
    out = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN,
        ActionNames=["s3:GetObject", "ec2:StartInstances"],
        ResourceArns=["arn:aws:s3:::home/alice/notes"],
    )
    for result in out["EvaluationResults"]:
        assert result["EvalDecision"] == "implicitDeny"
        # every key the policies reference, not only those of the simulated action's statements
        assert result["MissingContextValues"] == ALL_KEYS
        assert result["ResourceSpecificResults"][0]["MissingContextValues"] == ALL_KEYS


def test_context_entries_of_every_type(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="Cond", PolicyDocument=conditional_policy())
    entries = [
        {"ContextKeyName": "aws:username", "ContextKeyValues": ["alice"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:requesttag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["TRUE"], "ContextKeyType": "boolean"},
        {"ContextKeyName": "aws:MultiFactorAuthAge", "ContextKeyValues": ["120"], "ContextKeyType": "numeric"},
        {"ContextKeyName": "aws:CurrentTime", "ContextKeyValues": ["2024-05-01T00:00:00Z"], "ContextKeyType": "date"},
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"},
        {"ContextKeyName": "aws:TagKeys", "ContextKeyValues": ["team", "env"], "ContextKeyType": "stringList"},
    ]
    actions = [
        "s3:GetObject",
        "ec2:StartInstances",
        "ec2:StopInstances",
        "ec2:RebootInstances",
        "ec2:DescribeInstances",
        "ec2:CreateTags",
    ]
    out = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN,
        ActionNames=actions,
        ResourceArns=["arn:aws:s3:::home/alice/notes"],
        ContextEntries=entries,
    )
    results = by_action(out)
    for action in actions:
        assert results[action]["EvalDecision"] == "allowed", action
        assert results[action]["MissingContextValues"] == []
    # values that do not satisfy the conditions
    wrong = [
        {"ContextKeyName": "aws:username", "ContextKeyValues": ["bob"]},
        {"ContextKeyName": "aws:RequestTag/team", "ContextKeyValues": ["blue"]},
        {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["false"], "ContextKeyType": "boolean"},
        {"ContextKeyName": "aws:MultiFactorAuthAge", "ContextKeyValues": ["7200"], "ContextKeyType": "numeric"},
        {"ContextKeyName": "aws:CurrentTime", "ContextKeyValues": ["2019-05-01T00:00:00Z"], "ContextKeyType": "date"},
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["192.168.0.1"], "ContextKeyType": "ip"},
        {"ContextKeyName": "aws:TagKeys", "ContextKeyValues": ["team", "owner"], "ContextKeyType": "stringList"},
    ]
    out = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN,
        ActionNames=actions,
        ResourceArns=["arn:aws:s3:::home/alice/notes"],
        ContextEntries=wrong,
    )
    for result in out["EvaluationResults"]:
        assert result["EvalDecision"] == "implicitDeny", result["EvalActionName"]
        assert result["MissingContextValues"] == []


def test_custom_policy_as_the_aws_cli_documents_it(iam: Any) -> None:
    policy = (
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
        '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
    )
    entry = {
        "ContextKeyName": "aws:CurrentTime",
        "ContextKeyValues": ["2019-04-25T11:00:00Z"],
        "ContextKeyType": "date",
    }
    out = iam.simulate_custom_policy(
        PolicyInputList=[policy], ActionNames=["dynamodb:CreateBackup"], ContextEntries=[entry]
    )
    assert out["EvaluationResults"] == [
        {
            "EvalActionName": "dynamodb:CreateBackup",
            "EvalResourceName": "*",
            "EvalDecision": "allowed",
            "MatchedStatements": [
                {
                    "SourcePolicyId": "PolicyInputList.1",
                    "SourcePolicyType": "IAM Policy",
                    "StartPosition": {"Line": 1, "Column": 38},
                    "EndPosition": {"Line": 1, "Column": 167},
                }
            ],
            "MissingContextValues": [],
        }
    ]
    entry["ContextKeyValues"] = ["2014-04-25T11:00:00Z"]
    out = iam.simulate_custom_policy(
        PolicyInputList=[policy], ActionNames=["dynamodb:CreateBackup"], ContextEntries=[entry]
    )
    assert out["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    assert out["EvaluationResults"][0]["MatchedStatements"] == []


def test_custom_policy_with_several_documents(iam: Any) -> None:
    out = iam.simulate_custom_policy(
        PolicyInputList=[compact(allow("s3:*")), compact(deny("s3:DeleteBucket"))],
        ActionNames=["s3:ListBucket", "s3:DeleteBucket", "sns:Publish"],
        ResourceArns=["arn:aws:s3:::b"],
    )
    results = by_action(out)
    assert results["s3:ListBucket"]["EvalDecision"] == "allowed"
    assert sources(results["s3:ListBucket"]) == [("PolicyInputList.1", "IAM Policy")]
    assert results["s3:DeleteBucket"]["EvalDecision"] == "explicitDeny"
    assert sources(results["s3:DeleteBucket"]) == [("PolicyInputList.2", "IAM Policy")]
    assert results["sns:Publish"]["EvalDecision"] == "implicitDeny"


# --- permissions boundaries ---------------------------------------------------------------------


def test_user_boundary_limits_the_simulation(iam: Any) -> None:
    boundary = iam.create_policy(PolicyName="OnlyS3", PolicyDocument=compact(allow("s3:*")))["Policy"]["Arn"]
    iam.create_user(UserName="alice", PermissionsBoundary=boundary)
    iam.put_user_policy(UserName="alice", PolicyName="Broad", PolicyDocument=compact(allow(["s3:*", "iam:*"])))
    results = by_action(
        iam.simulate_principal_policy(PolicySourceArn=USER_ARN, ActionNames=["s3:GetObject", "iam:GetUser"])
    )
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:GetObject"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert sources(results["s3:GetObject"]) == [("user_alice_Broad", "IAM Policy")]
    assert results["iam:GetUser"]["EvalDecision"] == "implicitDeny"
    assert results["iam:GetUser"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}

    # a boundary given in the request replaces the user's own
    replaced = by_action(
        iam.simulate_principal_policy(
            PolicySourceArn=USER_ARN,
            PermissionsBoundaryPolicyInputList=[compact(allow("iam:*"), deny("iam:DeleteUser"))],
            ActionNames=["s3:GetObject", "iam:GetUser", "iam:DeleteUser"],
            ResourceArns=[USER_ARN],
        )
    )
    assert replaced["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    assert replaced["iam:GetUser"]["EvalDecision"] == "allowed"
    assert replaced["iam:GetUser"]["ResourceSpecificResults"][0]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": True
    }
    assert replaced["iam:DeleteUser"]["EvalDecision"] == "explicitDeny"
    assert sources(replaced["iam:DeleteUser"]) == [("PermissionsBoundaryPolicyInputList.1", "IAM Policy")]
    assert replaced["iam:DeleteUser"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_custom_policy_boundary(iam: Any) -> None:
    results = by_action(
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("*"))],
            PermissionsBoundaryPolicyInputList=[compact(allow("s3:*"))],
            ActionNames=["s3:PutObject", "ec2:RunInstances"],
        )
    )
    assert results["s3:PutObject"]["EvalDecision"] == "allowed"
    assert results["ec2:RunInstances"]["EvalDecision"] == "implicitDeny"
    assert results["ec2:RunInstances"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_only_one_boundary_document(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("*"))],
            PermissionsBoundaryPolicyInputList=[compact(allow("s3:*")), compact(allow("ec2:*"))],
            ActionNames=["s3:PutObject"],
        )
    assert error_of(exc) == ("InvalidInput", 400)


# --- resource-based policies ----------------------------------------------------------------------


def bucket_policy(*statements: dict[str, Any]) -> str:
    return compact(*statements)


def test_resource_policy_grants_and_denies(iam: Any) -> None:
    iam.create_user(UserName="alice")
    policy = bucket_policy(
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Principal": {"AWS": USER_ARN},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::shared/*",
        },
        {
            "Sid": "NoDelete",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": "arn:aws:s3:::shared/*",
        },
    )
    results = by_action(
        iam.simulate_principal_policy(
            PolicySourceArn=USER_ARN,
            PolicyInputList=[compact(allow("s3:DeleteObject"))],
            ActionNames=["s3:GetObject", "s3:DeleteObject", "s3:PutObject"],
            ResourceArns=["arn:aws:s3:::shared/file"],
            ResourcePolicy=policy,
        )
    )
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert sources(results["s3:GetObject"]) == [("ResourcePolicy", "Resource Policy")]
    assert results["s3:GetObject"]["EvalDecisionDetails"] == {}
    assert results["s3:DeleteObject"]["EvalDecision"] == "explicitDeny"
    assert sources(results["s3:DeleteObject"]) == [("ResourcePolicy", "Resource Policy")]
    assert results["s3:PutObject"]["EvalDecision"] == "implicitDeny"


def test_custom_policy_resource_policy_needs_a_caller(iam: Any) -> None:
    policy = bucket_policy(
        {"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    )
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("sqs:*"))], ActionNames=["s3:GetObject"], ResourcePolicy=policy
        )
    assert error_of(exc) == ("InvalidInput", 400)
    results = by_action(
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("sqs:*"))],
            ActionNames=["s3:GetObject"],
            ResourceArns=["arn:aws:s3:::b/k"],
            ResourcePolicy=policy,
            CallerArn=USER_ARN,
        )
    )
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    # another caller is not named by the policy
    other = by_action(
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("sqs:*"))],
            ActionNames=["s3:GetObject"],
            ResourceArns=["arn:aws:s3:::b/k"],
            ResourcePolicy=policy,
            CallerArn=f"arn:aws:iam::{ACCOUNT}:user/bob",
        )
    )
    assert other["s3:GetObject"]["EvalDecision"] == "implicitDeny"


def test_cross_account_resource_policy(iam: Any) -> None:
    queue = "arn:aws:sqs:us-east-1:210987654321:jobs"
    policy = bucket_policy(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sqs:SendMessage", "Resource": queue}
    )
    results = by_action(
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow(["sqs:SendMessage", "sqs:DeleteQueue"]))],
            ActionNames=["sqs:SendMessage", "sqs:DeleteQueue"],
            ResourceArns=[queue],
            ResourcePolicy=policy,
            CallerArn=USER_ARN,
        )
    )
    send = results["sqs:SendMessage"]
    assert send["EvalDecision"] == "allowed"
    assert send["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "allowed"}
    assert send["ResourceSpecificResults"][0]["EvalDecisionDetails"] == send["EvalDecisionDetails"]
    assert sorted(sources(send)) == [("PolicyInputList.1", "IAM Policy"), ("ResourcePolicy", "Resource Policy")]
    delete = results["sqs:DeleteQueue"]
    assert delete["EvalDecision"] == "implicitDeny"
    assert delete["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "implicitDeny"}


def test_resource_owner_makes_a_resource_foreign(iam: Any) -> None:
    policy = bucket_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    )
    for owner in ("210987654321", "arn:aws:iam::210987654321:root"):
        result = iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("sqs:*"))],
            ActionNames=["s3:GetObject"],
            ResourceArns=["arn:aws:s3:::b/k"],
            ResourcePolicy=policy,
            ResourceOwner=owner,
            CallerArn=USER_ARN,
        )["EvaluationResults"][0]
        # across accounts the caller's own policies must allow too
        assert result["EvalDecision"] == "implicitDeny"
        assert result["EvalDecisionDetails"] == {"IAM Policy": "implicitDeny", "Resource Policy": "allowed"}
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("sqs:*"))],
            ActionNames=["s3:GetObject"],
            ResourcePolicy=policy,
            ResourceOwner="not-an-account",
            CallerArn=USER_ARN,
        )
    assert error_of(exc) == ("InvalidInput", 400)


def test_role_source_with_resource_policy_needs_a_caller(iam: Any) -> None:
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)
    policy = bucket_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/app", ActionNames=["s3:GetObject"], ResourcePolicy=policy
        )
    assert error_of(exc) == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/app",
            ActionNames=["s3:GetObject"],
            ResourcePolicy=policy,
            CallerArn=f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s",
        )
    assert error_of(exc) == ("InvalidInput", 400)
    out = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/app",
        ActionNames=["s3:GetObject"],
        ResourcePolicy=policy,
        CallerArn=USER_ARN,
    )
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"


# --- pagination ---------------------------------------------------------------------------------


def test_pagination_over_actions(iam: Any) -> None:
    actions = [f"s3:Action{i}" for i in range(5)]
    policy = compact(allow("s3:*"))
    seen: list[str] = []
    markers: list[str] = []
    kwargs: dict[str, Any] = {"PolicyInputList": [policy], "ActionNames": actions, "MaxItems": 2}
    while True:
        page = iam.simulate_custom_policy(**kwargs)
        seen += [r["EvalActionName"] for r in page["EvaluationResults"]]
        assert len(page["EvaluationResults"]) <= 2
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        markers.append(page["Marker"])
        kwargs["Marker"] = page["Marker"]
    assert seen == actions
    assert len(markers) == 2
    assert all(m not in actions for m in markers)

    pages = iam.get_paginator("simulate_custom_policy").paginate(
        PolicyInputList=[policy], ActionNames=actions, PaginationConfig={"PageSize": 3}
    )
    assert [r["EvalActionName"] for p in pages for r in p["EvaluationResults"]] == actions


def test_principal_pagination_and_bad_marker(iam: Any) -> None:
    make_alice(iam)
    actions = ["s3:GetObject", "s3:DeleteObject", "ec2:StartInstances"]
    first = iam.simulate_principal_policy(PolicySourceArn=USER_ARN, ActionNames=actions, MaxItems=1)
    assert first["IsTruncated"] is True
    second = iam.simulate_principal_policy(
        PolicySourceArn=USER_ARN, ActionNames=actions, MaxItems=5, Marker=first["Marker"]
    )
    assert [r["EvalActionName"] for r in second["EvaluationResults"]] == actions[1:]
    assert second["IsTruncated"] is False
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(PolicySourceArn=USER_ARN, ActionNames=actions, Marker="garbage!")
    assert error_of(exc) == ("InvalidInput", 400)


# --- errors -----------------------------------------------------------------------------------


def test_missing_entities(iam: Any) -> None:
    for arn, message in (
        (f"arn:aws:iam::{ACCOUNT}:user/ghost", "The user with name ghost cannot be found."),
        (f"arn:aws:iam::{ACCOUNT}:group/ghost", "The group with name ghost cannot be found."),
        (f"arn:aws:iam::{ACCOUNT}:role/ghost", "The role with name ghost cannot be found."),
    ):
        with pytest.raises(ClientError) as exc:
            iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"])
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert exc.value.response["Error"]["Message"] == message
        with pytest.raises(ClientError) as exc:
            iam.get_context_keys_for_principal_policy(PolicySourceArn=arn)
        assert error_of(exc) == ("NoSuchEntity", 404)


def test_invalid_policy_source_arn(iam: Any) -> None:
    for arn in ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:s3:::some-bucket-name"):
        with pytest.raises(ClientError) as exc:
            iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"])
        assert error_of(exc) == ("InvalidInput", 400)


def test_malformed_documents(iam: Any) -> None:
    iam.create_user(UserName="alice")
    bad = [
        "{not json",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),
    ]
    for document in bad:
        with pytest.raises(ClientError) as exc:
            iam.simulate_custom_policy(PolicyInputList=[document], ActionNames=["s3:GetObject"])
        assert error_of(exc) == ("MalformedPolicyDocument", 400)
        with pytest.raises(ClientError) as exc:
            iam.simulate_principal_policy(
                PolicySourceArn=USER_ARN, PolicyInputList=[document], ActionNames=["s3:GetObject"]
            )
        assert error_of(exc) == ("MalformedPolicyDocument", 400)
        with pytest.raises(ClientError) as exc:
            iam.get_context_keys_for_custom_policy(PolicyInputList=[document])
        assert error_of(exc) == ("MalformedPolicyDocument", 400)
    # identity policies may not name a principal; resource policies must
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(
            PolicyInputList=[compact({**allow("s3:*"), "Principal": "*"})], ActionNames=["s3:GetObject"]
        )
    assert error_of(exc) == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(
            PolicyInputList=[compact(allow("s3:*"))],
            ActionNames=["s3:GetObject"],
            ResourcePolicy=compact(allow("s3:*")),
            CallerArn=USER_ARN,
        )
    assert error_of(exc) == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(
            PolicySourceArn=USER_ARN,
            PermissionsBoundaryPolicyInputList=["[]"],
            ActionNames=["s3:GetObject"],
        )
    assert error_of(exc) == ("MalformedPolicyDocument", 400)


def test_caller_arn_must_be_a_user(iam: Any) -> None:
    for caller in ("bob", f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:role/app"):
        with pytest.raises(ClientError) as exc:
            iam.simulate_custom_policy(
                PolicyInputList=[compact(allow("*"))], ActionNames=["s3:GetObject"], CallerArn=caller
            )
        assert error_of(exc) == ("InvalidInput", 400)


# --- context keys ---------------------------------------------------------------------------


def test_context_keys_for_custom_policy(iam: Any) -> None:
    policy = (
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
        '"Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}",'
        '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}'
    )
    out = iam.get_context_keys_for_custom_policy(PolicyInputList=[policy])
    assert out["ContextKeyNames"] == ["aws:username", "aws:CurrentTime"]
    # de-duplicated (keys are case-insensitive), across documents, first spelling kept
    second = compact(
        allow("s3:*", Condition={"StringEquals": {"AWS:CurrentTime": "x", "s3:prefix": "home/${aws:username}/"}}),
        allow("ec2:*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b*"]}}),
    )
    out = iam.get_context_keys_for_custom_policy(PolicyInputList=[policy, second])
    assert out["ContextKeyNames"] == ["aws:username", "aws:CurrentTime", "s3:prefix", "aws:TagKeys"]
    out = iam.get_context_keys_for_custom_policy(PolicyInputList=[compact(allow("*"))])
    assert out["ContextKeyNames"] == []
    # resource-based policies are read too
    bucket = compact(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[bucket])["ContextKeyNames"] == [
        "aws:SecureTransport"
    ]


def test_context_keys_for_principal_policy(iam: Any) -> None:
    boundary = compact(allow("*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}))
    boundary_arn = iam.create_policy(PolicyName="Boundary", PolicyDocument=boundary)["Policy"]["Arn"]
    iam.create_user(UserName="alice", PermissionsBoundary=boundary_arn)
    iam.put_user_policy(
        UserName="alice",
        PolicyName="Own",
        PolicyDocument=compact(allow("s3:*", "arn:aws:s3:::home/${aws:username}/*")),
    )
    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    iam.put_group_policy(
        GroupName="devs",
        PolicyName="Mfa",
        PolicyDocument=compact(deny("*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
    )
    out = iam.get_context_keys_for_principal_policy(PolicySourceArn=USER_ARN)
    assert out["ContextKeyNames"] == ["aws:username", "aws:MultiFactorAuthPresent", "aws:RequestedRegion"]
    out = iam.get_context_keys_for_principal_policy(
        PolicySourceArn=USER_ARN,
        PolicyInputList=[compact(allow("ec2:*", Condition={"StringEquals": {"ec2:InstanceType": "t3.micro"}}))],
    )
    assert out["ContextKeyNames"][-1] == "ec2:InstanceType"
    group = iam.get_context_keys_for_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:group/devs")
    assert group["ContextKeyNames"] == ["aws:MultiFactorAuthPresent"]


# --- who may simulate ----------------------------------------------------------------------------


def user_client(iamd: Server, iam: Any, name: str, policy: str) -> Any:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return iamd.client("iam", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])


def test_simulating_needs_only_the_simulate_permission(iamd: Server, iam: Any) -> None:
    make_alice(iam)
    auditor = user_client(
        iamd, iam, "auditor", compact(allow(["iam:SimulatePrincipalPolicy", "iam:GetContextKeysForPrincipalPolicy"]))
    )
    out = auditor.simulate_principal_policy(PolicySourceArn=USER_ARN, ActionNames=["ec2:StartInstances"])
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert auditor.get_context_keys_for_principal_policy(PolicySourceArn=USER_ARN)["ContextKeyNames"] == []
    with pytest.raises(ClientError) as exc:
        auditor.simulate_custom_policy(PolicyInputList=[compact(allow("*"))], ActionNames=["s3:GetObject"])
    assert error_of(exc) == ("AccessDenied", 403)


def test_other_accounts_entities_are_not_found(iamd: Server, iam: Any) -> None:
    make_alice(iam)
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    other = iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        other.simulate_principal_policy(PolicySourceArn=USER_ARN, ActionNames=["s3:GetObject"])
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.get_context_keys_for_principal_policy(PolicySourceArn=USER_ARN)
    assert error_of(exc) == ("NoSuchEntity", 404)


# --- the AWS CLI ----------------------------------------------------------------------------


def test_aws_cli_simulate_principal_policy(iamd: Server, iam: Any) -> None:
    make_alice(iam)
    out = iamd.aws(
        "iam",
        "simulate-principal-policy",
        "--policy-source-arn",
        USER_ARN,
        "--action-names",
        "ec2:StartInstances",
        "s3:GetObject",
        "--resource-arns",
        "arn:aws:s3:::bucket/k",
    )
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in out["EvaluationResults"]}
    assert decisions == {"ec2:StartInstances": "allowed", "s3:GetObject": "allowed"}
    keys = iamd.aws(
        "iam",
        "get-context-keys-for-custom-policy",
        "--policy-input-list",
        compact(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
    )
    assert keys == {"ContextKeyNames": ["aws:SourceIp"]}
