"""IAM users through boto3 and the AWS CLI against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, AwsCliError, Server


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_get_list_delete(iam: Any) -> None:
    created = iam.create_user(UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "core"}])["User"]
    assert created["UserName"] == "alice"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/eng/alice"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert created["Tags"] == [{"Key": "team", "Value": "core"}]
    got = iam.get_user(UserName="ALICE")["User"]  # names are case-insensitive
    assert got["UserId"] == created["UserId"]
    assert got["CreateDate"] == created["CreateDate"]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["alice"]
    assert iam.list_users(PathPrefix="/eng/")["Users"][0]["Path"] == "/eng/"
    assert iam.list_users(PathPrefix="/other/")["Users"] == []
    iam.delete_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="alice")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The user with name alice cannot be found."


def test_duplicate_name_case_insensitive(iam: Any) -> None:
    iam.create_user(UserName="Bob")
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="bob")
    assert error_of(exc) == ("EntityAlreadyExists", 409)


def test_get_user_as_root_without_name(iam: Any) -> None:
    user = iam.get_user()["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert user["UserId"] == ACCOUNT_ID


def test_update_user_rename_and_path(iam: Any) -> None:
    iam.create_user(UserName="carol")
    iam.create_user(UserName="dave")
    with pytest.raises(ClientError) as exc:
        iam.update_user(UserName="carol", NewUserName="DAVE")
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    iam.update_user(UserName="carol", NewUserName="caroline", NewPath="/x/")
    user = iam.get_user(UserName="caroline")["User"]
    assert user["Path"] == "/x/"
    assert user["Arn"].endswith(":user/x/caroline")


def test_server_side_validation(iamd: Server) -> None:
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="bad name!")
    assert error_of(exc) == ("ValidationError", 400)
    assert "Member must satisfy regular expression pattern" in exc.value.response["Error"]["Message"]
    assert "'userName'" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="x" * 65)
    assert error_of(exc) == ("ValidationError", 400)
    assert "length less than or equal to 64" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        iam.create_user()
    assert error_of(exc) == ("ValidationError", 400)
    assert "Member must not be null" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="ok", Path="no-slashes")
    assert error_of(exc) == ("ValidationError", 400)
    # nothing half-written
    assert iam.list_users()["Users"] == []


def test_pagination_is_keyset_and_stable(iam: Any) -> None:
    names = [f"user{i:02d}" for i in range(25)]
    for name in names:
        iam.create_user(UserName=name)
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 10}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_users(**kwargs)
        pages += 1
        seen += [u["UserName"] for u in page["Users"]]
        if pages == 1:
            iam.create_user(UserName="aaa-inserted-before")  # before the cursor: not seen, nothing repeated
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
        assert "user" not in marker  # opaque
    assert seen == names
    assert pages == 3
    paginated = [
        u["UserName"]
        for p in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 7})
        for u in p["Users"]
    ]
    assert paginated == ["aaa-inserted-before", *names]


def test_bad_marker(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.list_users(Marker="!!!not-a-marker")
    assert error_of(exc)[1] == 400


def test_tags(iam: Any) -> None:
    iam.create_user(UserName="tagged")
    iam.tag_user(UserName="tagged", Tags=[{"Key": "a", "Value": "1"}, {"Key": "B", "Value": "2"}])
    iam.tag_user(UserName="tagged", Tags=[{"Key": "A", "Value": "3"}])  # keys case-insensitive
    tags = iam.list_user_tags(UserName="tagged")["Tags"]
    assert tags == [{"Key": "A", "Value": "3"}, {"Key": "B", "Value": "2"}]
    iam.untag_user(UserName="tagged", TagKeys=["b"])
    assert iam.list_user_tags(UserName="tagged")["Tags"] == [{"Key": "A", "Value": "3"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_user(UserName="tagged", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert error_of(exc) == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as exc:
        iam.tag_user(UserName="tagged", Tags=[{"Key": "aws:reserved", "Value": "v"}])
    assert error_of(exc) == ("InvalidInput", 400)


def test_tags_in_plain_key_order(iam: Any) -> None:
    """ListUserTags lists keys in plain (code point) order, like every other List*Tags."""
    keys = ["b", "B", "a", "_x", "Z", "0"]
    iam.create_user(UserName="ordered", Tags=[{"Key": k, "Value": "v"} for k in keys if k != "B"])
    assert [t["Key"] for t in iam.list_user_tags(UserName="ordered")["Tags"]] == ["0", "Z", "_x", "a", "b"]
    assert [t["Key"] for t in iam.get_user(UserName="ordered")["User"]["Tags"]] == ["0", "Z", "_x", "a", "b"]
    page = iam.list_user_tags(UserName="ordered", MaxItems=2)
    assert [t["Key"] for t in page["Tags"]] == ["0", "Z"] and page["IsTruncated"] is True
    rest = iam.list_user_tags(UserName="ordered", Marker=page["Marker"])
    assert [t["Key"] for t in rest["Tags"]] == ["_x", "a", "b"] and rest["IsTruncated"] is False


def test_permissions_boundary(iam: Any) -> None:
    boundary = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    created = iam.create_user(UserName="bounded", PermissionsBoundary=boundary)["User"]
    assert created["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    user = iam.get_user(UserName="bounded")["User"]
    assert user["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": boundary,
    }
    # ListUsers (and GetGroup's members) carry a subset of the User shape: never the boundary
    listed = iam.list_users()["Users"]
    assert [u["UserName"] for u in listed] == ["bounded"] and "PermissionsBoundary" not in listed[0]
    iam.create_group(GroupName="g")
    iam.add_user_to_group(GroupName="g", UserName="bounded")
    assert "PermissionsBoundary" not in iam.get_group(GroupName="g")["Users"][0]
    iam.remove_user_from_group(GroupName="g", UserName="bounded")
    iam.delete_user_permissions_boundary(UserName="bounded")
    assert "PermissionsBoundary" not in iam.get_user(UserName="bounded")["User"]
    with pytest.raises(ClientError) as exc:
        iam.put_user_permissions_boundary(
            UserName="bounded", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT_ID}:policy/nope"
        )
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_aws_cli_tour(iamd: Server) -> None:
    out = iamd.aws("iam", "create-user", "--user-name", "cli-user")
    assert out["User"]["UserName"] == "cli-user"
    listed = iamd.aws("iam", "list-users")
    assert [u["UserName"] for u in listed["Users"]] == ["cli-user"]
    ident = iamd.aws("sts", "get-caller-identity")
    assert ident["Account"] == ACCOUNT_ID
    with pytest.raises(AwsCliError) as exc:
        iamd.aws("iam", "get-user", "--user-name", "nobody")
    assert "NoSuchEntity" in exc.value.stderr


INVALID_PATH = (
    "The specified value for path is invalid. "
    "It must begin and end with / and contain only alphanumeric characters and/or / characters."
)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def test_paths_with_an_empty_segment_are_refused_everywhere(iamd: Server, iam: Any) -> None:
    """IAM identifiers: a path begins and ends with / ; AWS refuses an empty segment with its own message."""
    from tests.functional.test_server_certificates import upload

    iam.create_user(UserName="u")
    iam.create_group(GroupName="g")
    iam.create_user(UserName="fine", Path="/a/b-c/d.e/")  # ordinary nested paths stay fine
    creates: list[Any] = [
        lambda path: iam.create_user(UserName="x", Path=path),
        lambda path: iam.create_group(GroupName="x", Path=path),
        lambda path: iam.create_role(RoleName="x", Path=path, AssumeRolePolicyDocument=TRUST),
        lambda path: iam.create_instance_profile(InstanceProfileName="x", Path=path),
        lambda path: iam.create_virtual_mfa_device(VirtualMFADeviceName="x", Path=path),
        lambda path: upload(iam, "x", Path=path),
        lambda path: iam.update_user(UserName="u", NewPath=path),
        lambda path: iam.update_group(GroupName="g", NewPath=path),
        lambda path: iam.update_user(UserName="missing", NewPath=path),  # checked before the lookup
    ]
    for call in creates:
        for path in ("/a//b/", "/a/b//"):
            with pytest.raises(ClientError) as exc:
                call(path)
            assert error_of(exc) == ("ValidationError", 400)
            assert exc.value.response["Error"]["Message"] == INVALID_PATH
    with pytest.raises(ClientError) as exc:  # the managed-policy path pattern refuses it in the model
        iam.create_policy(PolicyName="x", Path="/a//b/", PolicyDocument=POLICY)
    assert error_of(exc) == ("ValidationError", 400)
    assert [u["Path"] for u in iam.list_users()["Users"]] == ["/a/b-c/d.e/", "/"]
    assert iam.list_roles()["Roles"] == [] and [g["Path"] for g in iam.list_groups()["Groups"]] == ["/"]
    with pytest.raises(AwsCliError) as cli:
        iamd.aws("iam", "create-role", "--role-name", "x", "--path", "/a//b/", "--assume-role-policy-document", TRUST)
    assert "(ValidationError)" in cli.value.stderr and INVALID_PATH in cli.value.stderr
