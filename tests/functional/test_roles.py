"""Roles, service-linked roles and instance profiles against a real server."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_get_list_update_delete(iam: Any) -> None:
    role = iam.create_role(
        RoleName="app",
        Path="/svc/",
        AssumeRolePolicyDocument=TRUST,
        Description="the app",
        MaxSessionDuration=7200,
        Tags=[{"Key": "env", "Value": "dev"}],
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/svc/app"
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    got = iam.get_role(RoleName="APP")["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST)  # boto3 decodes the URL-encoded document
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "the app"
    assert got["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert "RoleLastUsed" in got
    listed = iam.list_roles()["Roles"]
    assert [r["RoleName"] for r in listed] == ["app"] and "Tags" not in listed[0]
    iam.update_role(RoleName="app", Description="new", MaxSessionDuration=43200)
    assert iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"] == 43200
    assert iam.update_role_description(RoleName="app", Description="d2")["Role"]["Description"] == "d2"
    new_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}],
        }
    )
    iam.update_assume_role_policy(RoleName="app", PolicyDocument=new_trust)
    assert iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
    iam.delete_role(RoleName="app")
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="app")
    assert code(exc) == ("NoSuchEntity", 404)


def test_validation(iamd: Server, iam: Any) -> None:
    raw = boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    for duration in (3599, 43201):
        with pytest.raises(ClientError) as exc:
            raw.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=duration)
        assert code(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=POLICY)  # no Principal: not a trust policy
    assert code(exc) == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="r", AssumeRolePolicyDocument="{not json")
    assert code(exc) == ("MalformedPolicyDocument", 400)
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="R", AssumeRolePolicyDocument=TRUST)
    assert code(exc) == ("EntityAlreadyExists", 409)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["r"]


def test_delete_conflicts(iam: Any) -> None:
    iam.create_role(RoleName="busy", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="busy", PolicyName="p", PolicyDocument=POLICY)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="busy")
    assert code(exc) == ("DeleteConflict", 409)
    iam.delete_role_policy(RoleName="busy", PolicyName="p")
    iam.attach_role_policy(RoleName="busy", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="busy")
    assert code(exc) == ("DeleteConflict", 409)
    iam.detach_role_policy(RoleName="busy", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.create_instance_profile(InstanceProfileName="ip")
    iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="busy")
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="busy")
    assert code(exc) == ("DeleteConflict", 409)
    iam.remove_role_from_instance_profile(InstanceProfileName="ip", RoleName="busy")
    iam.delete_role(RoleName="busy")


def test_boundary_and_tags(iam: Any) -> None:
    iam.create_role(RoleName="b", AssumeRolePolicyDocument=TRUST)
    iam.put_role_permissions_boundary(RoleName="b", PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert iam.get_role(RoleName="b")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith(
        "IAMReadOnlyAccess"
    )
    iam.delete_role_permissions_boundary(RoleName="b")
    assert "PermissionsBoundary" not in iam.get_role(RoleName="b")["Role"]
    iam.tag_role(RoleName="b", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_role(RoleName="b", TagKeys=["A"])
    assert iam.list_role_tags(RoleName="b")["Tags"] == [{"Key": "b", "Value": "2"}]


def test_pagination(iam: Any) -> None:
    for i in range(7):
        iam.create_role(RoleName=f"role{i}", AssumeRolePolicyDocument=TRUST)
    pages = list(iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [r["RoleName"] for p in pages for r in p["Roles"]] == [f"role{i}" for i in range(7)]


def test_service_linked_roles(iam: Any) -> None:
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAutoScaling"
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="AWSServiceRoleForAutoScaling")
    assert code(exc) == ("UnmodifiableEntity", 400)
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName="AWSServiceRoleForAutoScaling", PolicyDocument=TRUST)
    assert code(exc) == ("UnmodifiableEntity", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="not-a-service.example.com")
    assert code(exc) == ("InvalidInput", 400)
    custom = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com", CustomSuffix="blue")["Role"]
    assert custom["RoleName"] == "AWSServiceRoleForECS_blue"
    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForAutoScaling")["DeletionTaskId"]
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="AWSServiceRoleForAutoScaling")
    assert code(exc) == ("NoSuchEntity", 404)


def test_instance_profiles(iam: Any) -> None:
    profile = iam.create_instance_profile(InstanceProfileName="web", Path="/p/", Tags=[{"Key": "k", "Value": "v"}])[
        "InstanceProfile"
    ]
    assert profile["InstanceProfileId"].startswith("AIPA")
    assert profile["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/p/web"
    iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName="other", AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web-role")
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="other")
    assert code(exc) == ("LimitExceeded", 409)
    got = iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == ["web-role"]
    assert [
        p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName="web-role")["InstanceProfiles"]
    ] == ["web"]
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles(PathPrefix="/p/")["InstanceProfiles"]] == [
        "web"
    ]
    with pytest.raises(ClientError) as exc:
        iam.delete_instance_profile(InstanceProfileName="web")
    assert code(exc) == ("DeleteConflict", 409)
    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="web-role")
    iam.untag_instance_profile(InstanceProfileName="web", TagKeys=["k"])
    assert iam.list_instance_profile_tags(InstanceProfileName="web")["Tags"] == []
    iam.delete_instance_profile(InstanceProfileName="web")
    with pytest.raises(ClientError) as exc:
        iam.get_instance_profile(InstanceProfileName="web")
    assert code(exc) == ("NoSuchEntity", 404)


def test_role_via_aws_cli(iamd: Server) -> None:
    out = iamd.aws("iam", "create-role", "--role-name", "cli-role", "--assume-role-policy-document", TRUST)
    assert out["Role"]["RoleName"] == "cli-role"
    got = iamd.aws("iam", "get-role", "--role-name", "cli-role")
    assert got["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == "ec2.amazonaws.com"
