"""Roles and service-linked roles against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from iamd.services.iam.service_linked_roles import role_name, role_suffix
from tests.support.server import ACCOUNT_ID, AwsCliError, Server, postgres_database, start_server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
SLR_NAME = "AWSServiceRoleForAutoScaling"


def trust_for(principal: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def unvalidated(iamd: Server) -> Any:
    """A client that skips boto3's own parameter validation, to reach the server's."""
    return boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def second_account(iamd: Server) -> tuple[str, Any]:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    other = json.loads(proc.stdout)
    return other["AccountId"], iamd.client("iam", other["AccessKeyId"], other["SecretAccessKey"])


# --- roles ---------------------------------------------------------------------------------------------


def test_create_get_list_update_delete(iam: Any) -> None:
    created = iam.create_role(
        RoleName="app",
        Path="/svc/",
        AssumeRolePolicyDocument=TRUST,
        Description="the app",
        MaxSessionDuration=7200,
        Tags=[{"Key": "env", "Value": "dev"}],
    )["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/svc/app"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", created["RoleId"])
    assert created["Path"] == "/svc/" and created["RoleName"] == "app"
    assert created["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST)  # boto3 decodes the URL-encoded document
    assert "CreateDate" in created

    got = iam.get_role(RoleName="APP")["Role"]  # names are case-insensitive
    assert got["RoleId"] == created["RoleId"] and got["RoleName"] == "app"
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "the app"
    assert got["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert got["RoleLastUsed"] == {}  # never used: AWS answers an empty RoleLastUsed
    assert "PermissionsBoundary" not in got

    listed = iam.list_roles()
    assert listed["IsTruncated"] is False
    [item] = listed["Roles"]
    assert item["RoleName"] == "app" and item["Description"] == "the app" and item["MaxSessionDuration"] == 7200
    assert item["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert not {"Tags", "RoleLastUsed", "PermissionsBoundary"} & set(item)

    iam.update_role(RoleName="app", Description="new", MaxSessionDuration=43200)
    got = iam.get_role(RoleName="app")["Role"]
    assert got["MaxSessionDuration"] == 43200 and got["Description"] == "new"
    iam.update_role(RoleName="app", MaxSessionDuration=3600)  # description untouched
    assert iam.get_role(RoleName="app")["Role"]["Description"] == "new"
    described = iam.update_role_description(RoleName="app", Description="d2")["Role"]
    assert described["Description"] == "d2" and described["RoleName"] == "app"

    new_trust = trust_for({"AWS": ACCOUNT_ID})
    iam.update_assume_role_policy(RoleName="app", PolicyDocument=new_trust)
    assert iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)

    iam.delete_role(RoleName="App")
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="app")
    assert code(exc) == ("NoSuchEntity", 404)
    assert message(exc) == "The role with name app cannot be found."
    assert iam.list_roles()["Roles"] == []


def test_defaults(iam: Any) -> None:
    role = iam.create_role(RoleName="plain", AssumeRolePolicyDocument=TRUST)["Role"]
    assert role["Path"] == "/" and role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/plain"
    got = iam.get_role(RoleName="plain")["Role"]
    assert got["MaxSessionDuration"] == 3600
    assert "Description" not in got and "Tags" not in got


def test_trust_document_is_returned_as_sent(iam: Any) -> None:
    # characters that the query protocol must URL-encode and decode on the way in and out
    condition = '"Condition": {"StringEquals": {"sts:ExternalId": "a&b=c%d +x"}}'
    spaced = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Principal": {"Service": '
    spaced += f'"lambda.amazonaws.com"}}, "Action": "sts:AssumeRole", {condition}}}]\n}}'
    iam.create_role(RoleName="doc", AssumeRolePolicyDocument=spaced)
    bodies: list[str] = []
    iam.meta.events.register("after-call.iam.GetRole", lambda http_response, **_: bodies.append(http_response.text))
    assert iam.get_role(RoleName="doc")["Role"]["AssumeRolePolicyDocument"] == json.loads(spaced)
    found = re.search(r"<AssumeRolePolicyDocument>(.*?)</AssumeRolePolicyDocument>", bodies[0], re.S)
    assert found is not None and urllib.parse.unquote(found.group(1)) == spaced  # byte for byte, whitespace kept


def test_validation(iamd: Server, iam: Any) -> None:
    raw = unvalidated(iamd)
    for duration, words in ((3599, "greater than or equal to 3600"), (43201, "less than or equal to 43200")):
        with pytest.raises(ClientError) as exc:
            raw.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=duration)
        assert code(exc) == ("ValidationError", 400)
        assert str(duration) in message(exc) and words in message(exc)
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        raw.update_role(RoleName="r", MaxSessionDuration=50000)
    assert code(exc) == ("ValidationError", 400)
    assert iam.get_role(RoleName="r")["Role"]["MaxSessionDuration"] == 3600

    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="x", AssumeRolePolicyDocument=POLICY)  # no Principal: not a trust policy
    assert code(exc) == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="x", AssumeRolePolicyDocument="{not json")
    assert code(exc) == ("MalformedPolicyDocument", 400)
    huge = trust_for({"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:user/user-number-{i:04d}" for i in range(60)]})
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="x", AssumeRolePolicyDocument=huge)
    assert code(exc) == ("LimitExceeded", 409)
    assert message(exc) == "Cannot exceed quota for ACLSizePerRole: 2048"
    with pytest.raises(ClientError) as exc:
        raw.create_role(RoleName="bad name", AssumeRolePolicyDocument=TRUST)
    assert code(exc) == ("ValidationError", 400)

    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="R", AssumeRolePolicyDocument=TRUST)
    assert code(exc) == ("EntityAlreadyExists", 409)
    assert message(exc) == "Role with name R already exists."
    with pytest.raises(ClientError) as exc:
        iam.create_role(
            RoleName="x", AssumeRolePolicyDocument=TRUST, PermissionsBoundary="arn:aws:iam::aws:policy/Nope"
        )
    assert code(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="x", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "aws:x", "Value": "1"}])
    assert code(exc) == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_role(
            RoleName="x", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        )
    assert code(exc) == ("ValidationError", 400)  # the model's tagListType allows at most 50
    # every failed create rolled back completely
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["r"]


def test_bad_trust_update_keeps_old_document(iam: Any) -> None:
    iam.create_role(RoleName="keep", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName="keep", PolicyDocument=POLICY)
    assert code(exc) == ("MalformedPolicyDocument", 400)
    assert iam.get_role(RoleName="keep")["Role"]["AssumeRolePolicyDocument"] == json.loads(TRUST)


def test_missing_role_everywhere(iam: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: iam.get_role(RoleName="ghost"),
        lambda: iam.delete_role(RoleName="ghost"),
        lambda: iam.update_role(RoleName="ghost", Description="d"),
        lambda: iam.update_role_description(RoleName="ghost", Description="d"),
        lambda: iam.update_assume_role_policy(RoleName="ghost", PolicyDocument=TRUST),
        lambda: iam.tag_role(RoleName="ghost", Tags=[{"Key": "a", "Value": "b"}]),
        lambda: iam.untag_role(RoleName="ghost", TagKeys=["a"]),
        lambda: iam.list_role_tags(RoleName="ghost"),
        lambda: iam.put_role_permissions_boundary(RoleName="ghost", PermissionsBoundary=READ_ONLY),
        lambda: iam.delete_role_permissions_boundary(RoleName="ghost"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == ("NoSuchEntity", 404)
        assert message(exc) == "The role with name ghost cannot be found."


def test_delete_conflicts(iam: Any) -> None:
    iam.create_role(RoleName="busy", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="busy", PolicyName="p", PolicyDocument=POLICY)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="busy")
    assert code(exc) == ("DeleteConflict", 409)
    assert message(exc) == "Cannot delete entity, must delete policies first."
    iam.delete_role_policy(RoleName="busy", PolicyName="p")
    iam.attach_role_policy(RoleName="busy", PolicyArn=READ_ONLY)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="busy")
    assert code(exc) == ("DeleteConflict", 409)
    assert message(exc) == "Cannot delete entity, must detach all policies first."
    iam.detach_role_policy(RoleName="busy", PolicyArn=READ_ONLY)
    iam.create_instance_profile(InstanceProfileName="ip")
    iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="busy")
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="busy")
    assert code(exc) == ("DeleteConflict", 409)
    assert message(exc) == "Cannot delete entity, must remove roles from instance profile first."
    iam.remove_role_from_instance_profile(InstanceProfileName="ip", RoleName="busy")
    iam.tag_role(RoleName="busy", Tags=[{"Key": "t", "Value": "v"}])
    iam.delete_role(RoleName="busy")
    # a new role with the same name starts clean (no leftover tags)
    iam.create_role(RoleName="busy", AssumeRolePolicyDocument=TRUST)
    assert iam.list_role_tags(RoleName="busy")["Tags"] == []


def test_permissions_boundary(iam: Any) -> None:
    role = iam.create_role(RoleName="b", AssumeRolePolicyDocument=TRUST, PermissionsBoundary=READ_ONLY)["Role"]
    expected = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": READ_ONLY}
    assert role["PermissionsBoundary"] == expected
    assert iam.get_role(RoleName="b")["Role"]["PermissionsBoundary"] == expected
    assert "PermissionsBoundary" not in iam.list_roles()["Roles"][0]
    iam.delete_role_permissions_boundary(RoleName="b")
    assert "PermissionsBoundary" not in iam.get_role(RoleName="b")["Role"]
    with pytest.raises(ClientError) as exc:
        iam.delete_role_permissions_boundary(RoleName="b")
    assert code(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.put_role_permissions_boundary(
            RoleName="b", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT_ID}:policy/does-not-exist"
        )
    assert code(exc) == ("NoSuchEntity", 404)
    arn = iam.create_policy(PolicyName="bound", PolicyDocument=POLICY)["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="b", PermissionsBoundary=arn)
    assert iam.get_role(RoleName="b")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn


def test_tags(iam: Any) -> None:
    iam.create_role(RoleName="t", AssumeRolePolicyDocument=TRUST)
    iam.tag_role(RoleName="t", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.tag_role(RoleName="t", Tags=[{"Key": "B", "Value": "3"}])  # keys are case-insensitive: overwrite
    # plain key order (code points): "B" before "a"
    assert iam.list_role_tags(RoleName="t")["Tags"] == [{"Key": "B", "Value": "3"}, {"Key": "a", "Value": "1"}]
    iam.untag_role(RoleName="t", TagKeys=["A", "missing"])
    assert iam.list_role_tags(RoleName="t")["Tags"] == [{"Key": "B", "Value": "3"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_role(RoleName="t", Tags=[{"Key": "aws:reserved", "Value": "x"}])
    assert code(exc) == ("InvalidInput", 400)
    iam.tag_role(RoleName="t", Tags=[{"Key": f"k{i:02d}", "Value": "v"} for i in range(49)])
    with pytest.raises(ClientError) as exc:
        iam.tag_role(RoleName="t", Tags=[{"Key": "one-too-many", "Value": "v"}])
    assert code(exc) == ("LimitExceeded", 409)
    first = iam.list_role_tags(RoleName="t", MaxItems=20)
    assert first["IsTruncated"] is True and len(first["Tags"]) == 20
    keys = [t["Key"] for t in first["Tags"]]
    marker = first["Marker"]
    while marker:
        page = iam.list_role_tags(RoleName="t", MaxItems=20, Marker=marker)
        keys += [t["Key"] for t in page["Tags"]]
        marker = page.get("Marker")
    assert len(keys) == 50 and keys == sorted(keys)


def test_pagination_and_path_prefix(iam: Any) -> None:
    for i in range(7):
        iam.create_role(RoleName=f"role{i}", Path="/team/a/" if i % 2 else "/", AssumeRolePolicyDocument=TRUST)
    first = iam.list_roles(MaxItems=3)
    assert first["IsTruncated"] is True and [r["RoleName"] for r in first["Roles"]] == ["role0", "role1", "role2"]
    assert "role" not in first["Marker"]  # opaque
    pages = list(iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Roles"]) for p in pages] == [3, 3, 1]
    assert [r["RoleName"] for p in pages for r in p["Roles"]] == [f"role{i}" for i in range(7)]
    assert pages[-1]["IsTruncated"] is False and "Marker" not in pages[-1]
    team = [r["RoleName"] for r in iam.list_roles(PathPrefix="/team/")["Roles"]]
    assert team == ["role1", "role3", "role5"]
    assert iam.list_roles(PathPrefix="/nobody/")["Roles"] == []
    assert len(iam.list_roles(PathPrefix="/")["Roles"]) == 7
    with pytest.raises(ClientError) as exc:
        iam.list_roles(Marker="garbage!")
    assert code(exc) == ("InvalidInput", 400)


def test_cross_account_isolation(iamd: Server, iam: Any) -> None:
    iam.create_role(RoleName="mine", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "a", "Value": "1"}])
    other_id, other = second_account(iamd)
    assert other.list_roles()["Roles"] == []
    with pytest.raises(ClientError) as exc:
        other.get_role(RoleName="mine")
    assert code(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.delete_role(RoleName="mine")
    assert code(exc) == ("NoSuchEntity", 404)
    theirs = other.create_role(RoleName="mine", AssumeRolePolicyDocument=TRUST)["Role"]
    assert theirs["Arn"] == f"arn:aws:iam::{other_id}:role/mine"
    assert other.list_role_tags(RoleName="mine")["Tags"] == []
    other.delete_role(RoleName="mine")
    assert iam.get_role(RoleName="mine")["Role"]["Tags"] == [{"Key": "a", "Value": "1"}]


@pytest.mark.slow
def test_role_last_used_after_assume_role(iamd: Server, iam: Any) -> None:
    iam.create_role(RoleName="used", AssumeRolePolicyDocument=trust_for({"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}))
    iam.create_user(UserName="assumer")
    iam.put_user_policy(
        UserName="assumer",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="assumer")["AccessKey"]
    sts = iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"], region="eu-west-1")
    sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/used", RoleSessionName="s1")
    deadline = time.monotonic() + 20  # last-used data is written in batches every few seconds
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = iam.get_role(RoleName="used")["Role"]["RoleLastUsed"]
        if last:
            break
        time.sleep(0.5)
    assert last.get("Region") == "eu-west-1" and "LastUsedDate" in last


def test_role_via_aws_cli(iamd: Server) -> None:
    out = iamd.aws(
        "iam", "create-role", "--role-name", "cli-role", "--assume-role-policy-document", TRUST,
        "--max-session-duration", "7200", "--tags", "Key=team,Value=blue",
    )  # fmt: skip
    assert out["Role"]["RoleName"] == "cli-role"
    got = iamd.aws("iam", "get-role", "--role-name", "cli-role")
    assert got["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == "ec2.amazonaws.com"
    assert got["Role"]["MaxSessionDuration"] == 7200
    assert [r["RoleName"] for r in iamd.aws("iam", "list-roles")["Roles"]] == ["cli-role"]
    iamd.aws("iam", "update-role", "--role-name", "cli-role", "--description", "via cli")
    assert iamd.aws("iam", "get-role", "--role-name", "cli-role")["Role"]["Description"] == "via cli"
    iamd.aws("iam", "delete-role", "--role-name", "cli-role")
    assert iamd.aws("iam", "list-roles")["Roles"] == []


# --- service-linked roles --------------------------------------------------------------------------


def test_service_linked_role_lifecycle(iam: Any) -> None:
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", Description="asg")["Role"]
    assert role["RoleName"] == SLR_NAME
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/{SLR_NAME}"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", role["RoleId"])
    got = iam.get_role(RoleName=SLR_NAME)["Role"]
    assert got["Description"] == "asg" and got["MaxSessionDuration"] == 3600
    [statement] = got["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "autoscaling.amazonaws.com"}  # as AWS writes it
    assert statement["Action"] == "sts:AssumeRole"
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/aws-service-role/")["Roles"]] == [SLR_NAME]

    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    assert code(exc) == ("InvalidInput", 400)
    assert message(exc) == (
        f"Service role name {SLR_NAME} has been taken in this account, please try a different suffix."
    )
    custom = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="blue")["Role"]
    assert custom["RoleName"] == f"{SLR_NAME}_blue"
    ecs = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]
    assert ecs["RoleName"] == "AWSServiceRoleForECS"
    elb = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")["Role"]
    assert elb["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"

    task = iam.delete_service_linked_role(RoleName=SLR_NAME)["DeletionTaskId"]
    prefix = f"task/aws-service-role/autoscaling.amazonaws.com/{SLR_NAME}/"
    assert task.startswith(prefix)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", task[len(prefix) :])
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "SUCCEEDED" and "Reason" not in status
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=SLR_NAME)
    assert code(exc) == ("NoSuchEntity", 404)
    # the name is free again
    iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")


def test_service_linked_role_is_protected(iam: Any) -> None:
    iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    protected = f"Cannot perform the operation on the protected role '{SLR_NAME}' - this role is only modifiable by AWS"
    refused: list[Callable[[], Any]] = [
        lambda: iam.delete_role(RoleName=SLR_NAME),
        lambda: iam.update_assume_role_policy(RoleName=SLR_NAME, PolicyDocument=TRUST),
        lambda: iam.put_role_permissions_boundary(RoleName=SLR_NAME, PermissionsBoundary=READ_ONLY),
        lambda: iam.delete_role_permissions_boundary(RoleName=SLR_NAME),
        lambda: iam.update_role(RoleName=SLR_NAME, MaxSessionDuration=7200),
    ]
    for call in refused:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == ("UnmodifiableEntity", 400)
        assert message(exc) == protected
    got = iam.get_role(RoleName=SLR_NAME)["Role"]
    assert got["MaxSessionDuration"] == 3600 and "PermissionsBoundary" not in got
    # AWS lets anyone edit the description of (and tag) a service-linked role
    iam.update_role(RoleName=SLR_NAME, Description="edited")
    assert iam.update_role_description(RoleName=SLR_NAME, Description="again")["Role"]["Description"] == "again"
    iam.tag_role(RoleName=SLR_NAME, Tags=[{"Key": "k", "Value": "v"}])
    assert iam.list_role_tags(RoleName=SLR_NAME)["Tags"] == [{"Key": "k", "Value": "v"}]
    iam.untag_role(RoleName=SLR_NAME, TagKeys=["k"])
    # DeleteServiceLinkedRole removes it together with its tags
    iam.tag_role(RoleName=SLR_NAME, Tags=[{"Key": "k", "Value": "v"}])
    iam.delete_service_linked_role(RoleName=SLR_NAME)
    iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
    assert iam.list_role_tags(RoleName=SLR_NAME)["Tags"] == []


def test_service_linked_role_errors(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="not-a-service.example.com")
    assert code(exc) == ("InvalidInput", 400)
    assert message(exc).startswith("Service name not-a-service.example.com is not eligible")
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="AutoScaling.amazonaws.com")  # principals are case-sensitive
    assert code(exc) == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="x" * 60)
    assert code(exc) == ("InvalidInput", 400)  # the role name would exceed 64 characters
    iam.create_role(RoleName="ordinary", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        iam.delete_service_linked_role(RoleName="ordinary")
    assert code(exc) == ("InvalidInput", 400)
    iam.get_role(RoleName="ordinary")
    with pytest.raises(ClientError) as exc:
        iam.delete_service_linked_role(RoleName="ghost")
    assert code(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.get_service_linked_role_deletion_status(
            DeletionTaskId=f"task/aws-service-role/autoscaling.amazonaws.com/{SLR_NAME}/unknown"
        )
    assert code(exc) == ("NoSuchEntity", 404)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["ordinary"]


def test_deletion_tasks_are_per_account(iamd: Server, iam: Any) -> None:
    iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")["DeletionTaskId"]
    _, other = second_account(iamd)
    with pytest.raises(ClientError) as exc:
        other.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert code(exc) == ("NoSuchEntity", 404)
    # each account has its own service-linked role namespace
    iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    other.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")


def test_service_linked_role_via_aws_cli(iamd: Server) -> None:
    out = iamd.aws("iam", "create-service-linked-role", "--aws-service-name", "rds.amazonaws.com")
    assert out["Role"]["RoleName"] == "AWSServiceRoleForRDS"
    task = iamd.aws("iam", "delete-service-linked-role", "--role-name", "AWSServiceRoleForRDS")["DeletionTaskId"]
    status = iamd.aws("iam", "get-service-linked-role-deletion-status", "--deletion-task-id", task)
    assert status["Status"] == "SUCCEEDED"


AWS_SLR_NAMES = {
    "custom-resource.application-autoscaling.amazonaws.com": "AWSServiceRoleForApplicationAutoScaling_CustomResource",
    "dynamodb.application-autoscaling.amazonaws.com": "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
    "ecs.amazonaws.com": "AWSServiceRoleForECS",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "organizations.amazonaws.com": "AWSServiceRoleForOrganizations",
    "sso.amazonaws.com": "AWSServiceRoleForSSO",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
    "es.amazonaws.com": "AWSServiceRoleForAmazonElasticsearchService",
    "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup",
    "docdb-elastic.amazonaws.com": "AWSServiceRoleForDocDB-Elastic",
}


def test_aws_services_get_aws_names(iam: Any) -> None:
    """Each service's 'Using service-linked roles' page: the role name, path and trust AWS creates."""
    for service, name in AWS_SLR_NAMES.items():
        role = iam.create_service_linked_role(AWSServiceName=service)["Role"]
        assert role["RoleName"] == name
        assert role["Path"] == f"/aws-service-role/{service}/"
        assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{service}/{name}"
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ]
    listed = iam.list_roles(PathPrefix="/aws-service-role/")["Roles"]
    assert sorted(r["RoleName"] for r in listed) == sorted(AWS_SLR_NAMES.values())


def test_custom_suffix_rules(iamd: Server, iam: Any) -> None:
    """CreateServiceLinkedRole: 'Some services do not support the CustomSuffix parameter'."""
    for service in ("autoscaling.amazonaws.com", "lexv2.amazonaws.com", "connect.amazonaws.com"):
        role = iam.create_service_linked_role(AWSServiceName=service, CustomSuffix="blue")["Role"]
        assert role["RoleName"] == role_name(service) + "_blue"
    for service in ("ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com", "es.amazonaws.com"):
        with pytest.raises(ClientError) as exc:
            iam.create_service_linked_role(AWSServiceName=service, CustomSuffix="blue")
        assert code(exc) == ("InvalidInput", 400)
        assert message(exc) == f"Custom suffix is not allowed for {service}"
    # the operator's own principal (iamd.internal by default) takes suffixes
    assert iam.create_service_linked_role(AWSServiceName="iamd.internal")["Role"]["RoleName"] == "AWSServiceRoleForIamd"
    custom = iam.create_service_linked_role(AWSServiceName="iamd.internal", CustomSuffix="x")["Role"]
    assert custom["RoleName"] == "AWSServiceRoleForIamd_x"
    with pytest.raises(AwsCliError) as cli:
        iamd.aws("iam", "create-service-linked-role", "--aws-service-name", "rds.amazonaws.com", "--custom-suffix", "b")
    assert (
        "(InvalidInput)" in cli.value.stderr
        and "Custom suffix is not allowed for rds.amazonaws.com" in cli.value.stderr
    )


def test_services_without_service_linked_roles_are_refused(iam: Any) -> None:
    for service in ("ec2.amazonaws.com", "lambda.amazonaws.com", "s3.amazonaws.com", "ECS.amazonaws.com"):
        with pytest.raises(ClientError) as exc:
            iam.create_service_linked_role(AWSServiceName=service)
        assert code(exc) == ("InvalidInput", 400)
        assert message(exc) == f"Service name {service} is not eligible for service-linked roles."
    assert iam.list_roles()["Roles"] == []


def _add_aws_policy(iamd: Server, path_and_name: str) -> str:
    """Put an AWS managed policy into the store the way the catalogue seeds one."""
    import sqlalchemy as sa

    name = path_and_name.rsplit("/", 1)[1]
    arn = f"arn:aws:iam::aws:policy/{path_and_name}"
    url = iamd.database_url or f"sqlite:///{(iamd.data_dir / 'iamd.db').resolve()}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO managed_policies (id, account_id, name, name_key, path, arn, created_at, updated_at,"
                    " default_version, next_version, is_attachable)"
                    " VALUES ('ANPATESTSLRPOLICY0001', 'aws', :name, :key, :path, :arn, 0, 0, 'v1', 2, true)"
                ),
                {"name": name, "key": name.lower(), "path": "/" + path_and_name.rsplit("/", 1)[0] + "/", "arn": arn},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO policy_versions (policy_id, version_id, version_number, document, created_at)"
                    " VALUES ('ANPATESTSLRPOLICY0001', 'v1', 1, :doc, 0)"
                ),
                {"doc": POLICY},
            )
    finally:
        engine.dispose()
    return arn


def test_service_linked_role_gets_its_aws_managed_policy(iamd: Server, iam: Any) -> None:
    arn = _add_aws_policy(iamd, "aws-service-role/AmazonECSServiceRolePolicy")
    iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    attached = iam.list_attached_role_policies(RoleName="AWSServiceRoleForECS")["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonECSServiceRolePolicy", "PolicyArn": arn}]
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName="AWSServiceRoleForECS", PolicyArn=arn)
    assert code(exc) == ("UnmodifiableEntity", 400)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    # a service whose policy iamd's catalogue lacks gets its role all the same
    iam.create_service_linked_role(AWSServiceName="rds.amazonaws.com")
    assert iam.list_attached_role_policies(RoleName="AWSServiceRoleForRDS")["AttachedPolicies"] == []


def test_role_names_for_service_principals() -> None:
    # AWS's own services: the names AWS gives (service_linked_roles.json)
    assert role_name("autoscaling.amazonaws.com") == "AWSServiceRoleForAutoScaling"
    assert role_name("elasticloadbalancing.amazonaws.com") == "AWSServiceRoleForElasticLoadBalancing"
    assert role_name("ecs.amazonaws.com") == "AWSServiceRoleForECS"
    assert role_name("rds.amazonaws.com") == "AWSServiceRoleForRDS"
    assert role_name("replicator.lambda.amazonaws.com") == "AWSServiceRoleForLambdaReplicator"
    assert (
        role_name("custom-resource.application-autoscaling.amazonaws.com")
        == "AWSServiceRoleForApplicationAutoScaling_CustomResource"
    )
    assert role_name("opsinsights.ssm.amazonaws.com") == "AWSServiceRoleForAmazonSSM_OpsInsights"
    # an operator's own principals: labels CamelCased, most significant first
    assert role_suffix("my-service.amazonaws.com") == "MyService"
    assert role_suffix("worker.batch-jobs.amazonaws.com") == "BatchJobsWorker"
    assert role_suffix("builder.example") == "Builder"
    assert role_name("ecs.amazonaws.com", "x") == "AWSServiceRoleForECS_x"


# --- a dedicated server with small quotas and extra service principals --------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tuned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "IAMD_QUOTAS": "roles=3",
        "IAMD_SERVICE_LINKED_PRINCIPALS": "autoscaling.amazonaws.com,my-batch.amazonaws.com",
    }
    data_dir = tmp_path_factory.mktemp(f"iamd-roles-{request.param}")
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
        with postgres_database() as url:
            srv = start_server(data_dir, url, extra_env=env)
            yield srv
            srv.stop()
    else:
        srv = start_server(data_dir, extra_env=env)
        yield srv
        srv.stop()


def test_role_quota(tuned: Server) -> None:
    tuned.reset()
    iam = tuned.client("iam")
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName="r2", AssumeRolePolicyDocument=TRUST)
    iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")  # counts too
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="r3", AssumeRolePolicyDocument=TRUST)
    assert code(exc) == ("LimitExceeded", 409)
    assert message(exc) == "Cannot exceed quota for RolesPerAccount: 3"
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="my-batch.amazonaws.com")
    assert code(exc) == ("LimitExceeded", 409)
    iam.delete_role(RoleName="r1")
    iam.create_role(RoleName="r3", AssumeRolePolicyDocument=TRUST)


def test_configured_service_principals(tuned: Server) -> None:
    tuned.reset()
    iam = tuned.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="my-batch.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForMyBatch"
    assert role["Path"] == "/aws-service-role/my-batch.amazonaws.com/"
    with pytest.raises(ClientError) as exc:  # not in this server's list
        iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    assert code(exc) == ("InvalidInput", 400)


# --- roles only AWS may change ---------------------------------------------------------------------


def _move_role(iamd: Server, role: str, path: str) -> None:
    """Put a role under a path AWS reserves (as IAM Identity Center's roles are), past CreateRole."""
    import sqlalchemy as sa

    url = iamd.database_url or f"sqlite:///{(iamd.data_dir / 'iamd.db').resolve()}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE roles SET path = :path WHERE name_key = :name"), {"path": path, "name": role.lower()}
            )
    finally:
        engine.dispose()


def _role_changes(client: Any, name: str) -> list[Callable[[], Any]]:
    """Every change to a role whose model lists UnmodifiableEntity."""
    return [
        lambda: client.delete_role(RoleName=name),
        lambda: client.update_assume_role_policy(RoleName=name, PolicyDocument=TRUST),
        lambda: client.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=POLICY),
        lambda: client.delete_role_policy(RoleName=name, PolicyName="p"),
        lambda: client.attach_role_policy(RoleName=name, PolicyArn=READ_ONLY),
        lambda: client.detach_role_policy(RoleName=name, PolicyArn=READ_ONLY),
        lambda: client.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=READ_ONLY),
        lambda: client.delete_role_permissions_boundary(RoleName=name),
        lambda: client.update_role(RoleName=name, MaxSessionDuration=7200),
        lambda: client.update_role(RoleName=name, Description="mine now"),
        lambda: client.update_role_description(RoleName=name, Description="mine now"),
        lambda: client.add_role_to_instance_profile(InstanceProfileName="ip", RoleName=name),
        lambda: client.remove_role_from_instance_profile(InstanceProfileName="ip", RoleName=name),
    ]


def test_identity_center_roles_are_protected_whoever_asks(iamd: Server, iam: Any) -> None:
    """Roles under /aws-reserved/ are only modifiable by AWS: UnmodifiableEntity, even for root or an admin."""
    name = "AWSReservedSSO_Admin_0123456789abcdef"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="ip")
    _move_role(iamd, name, "/aws-reserved/sso.amazonaws.com/")
    iam.create_user(UserName="admin")
    iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    protected = f"Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS"
    for client in (iam, admin):
        refused = _role_changes(client, name)
        for call in refused:
            with pytest.raises(ClientError) as exc:
                call()
            assert code(exc) == ("UnmodifiableEntity", 400)
            assert message(exc) == protected
    got = iam.get_role(RoleName=name)["Role"]
    assert got["Path"] == "/aws-reserved/sso.amazonaws.com/" and "Description" not in got
    iam.tag_role(RoleName=name, Tags=[{"Key": "k", "Value": "v"}])  # tags are not guarded
    with pytest.raises(AwsCliError) as cli:
        iamd.aws("iam", "delete-role", "--role-name", name)
    assert "(UnmodifiableEntity)" in cli.value.stderr and protected in cli.value.stderr


def test_service_role_path_protects_too(iamd: Server, iam: Any) -> None:
    iam.create_role(RoleName="moved", AssumeRolePolicyDocument=TRUST)
    _move_role(iamd, "moved", "/aws-service-role/example.amazonaws.com/")
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName="moved", PolicyName="p", PolicyDocument=POLICY)
    assert code(exc) == ("UnmodifiableEntity", 400)
