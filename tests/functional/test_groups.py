"""IAM groups and membership through boto3 and the AWS CLI against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from iamd.core.quotas import QuotaSettings
from tests.support.server import ACCOUNT_ID, Server


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def second_account(iamd: Server) -> tuple[str, Any]:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    client = iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])
    return creds["AccountId"], client


def unvalidated(iamd: Server) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def test_create_get_list_delete(iam: Any) -> None:
    created = iam.create_group(GroupName="Admins", Path="/ops/")["Group"]
    assert created["GroupName"] == "Admins"
    assert created["Path"] == "/ops/"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:group/ops/Admins"
    assert created["GroupId"].startswith("AGPA") and len(created["GroupId"]) == 21
    got = iam.get_group(GroupName="admins")  # case-insensitive lookup
    assert got["Group"] == created
    assert got["Users"] == []
    assert got["IsTruncated"] is False
    iam.create_group(GroupName="readers")
    assert [g["GroupName"] for g in iam.list_groups()["Groups"]] == ["Admins", "readers"]
    assert [g["GroupName"] for g in iam.list_groups(PathPrefix="/ops/")["Groups"]] == ["Admins"]
    assert iam.list_groups(PathPrefix="/nothing/")["Groups"] == []
    iam.delete_group(GroupName="ADMINS")
    with pytest.raises(ClientError) as exc:
        iam.get_group(GroupName="Admins")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The group with name Admins cannot be found."
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="Admins")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_duplicate_name_case_insensitive(iam: Any) -> None:
    iam.create_group(GroupName="Dev")
    with pytest.raises(ClientError) as exc:
        iam.create_group(GroupName="DEV")
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    assert exc.value.response["Error"]["Message"] == "Group with name DEV already exists."


def test_update_group_rename_and_path(iam: Any) -> None:
    gid = iam.create_group(GroupName="old")["Group"]["GroupId"]
    iam.create_group(GroupName="taken")
    iam.create_user(UserName="member")
    iam.add_user_to_group(GroupName="old", UserName="member")
    with pytest.raises(ClientError) as exc:
        iam.update_group(GroupName="old", NewGroupName="TAKEN")
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    iam.update_group(GroupName="old", NewGroupName="new", NewPath="/team/")
    group = iam.get_group(GroupName="new")
    assert group["Group"]["GroupId"] == gid
    assert group["Group"]["Path"] == "/team/"
    assert group["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:group/team/new"
    assert [u["UserName"] for u in group["Users"]] == ["member"]  # membership follows the rename
    iam.update_group(GroupName="new", NewGroupName="NEW")  # case-only rename of itself
    assert iam.get_group(GroupName="new")["Group"]["GroupName"] == "NEW"
    with pytest.raises(ClientError) as exc:
        iam.get_group(GroupName="old")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.update_group(GroupName="missing", NewPath="/x/")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_membership(iamd: Server, iam: Any) -> None:
    iam.create_group(GroupName="g1")
    iam.create_group(GroupName="g2")
    iam.create_user(UserName="alice")
    iam.add_user_to_group(GroupName="g1", UserName="alice")
    iam.add_user_to_group(GroupName="G1", UserName="ALICE")  # already a member: a no-op
    iam.add_user_to_group(GroupName="g2", UserName="alice")
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]] == ["g1", "g2"]
    users = iam.get_group(GroupName="g1")["Users"]
    assert [u["UserName"] for u in users] == ["alice"]
    assert users[0]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/alice"
    iam.remove_user_from_group(GroupName="g1", UserName="alice")
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]] == ["g2"]
    # not a member any more: AWS answers success and changes nothing
    iam.remove_user_from_group(GroupName="g1", UserName="alice")
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]] == ["g2"]
    assert iamd.aws("iam", "remove-user-from-group", "--group-name", "g1", "--user-name", "alice") is None
    with pytest.raises(ClientError) as exc:
        iam.remove_user_from_group(GroupName="g1", UserName="nobody")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The user with name nobody cannot be found."
    with pytest.raises(ClientError) as exc:
        iam.remove_user_from_group(GroupName="ghost", UserName="alice")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName="g1", UserName="nobody")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The user with name nobody cannot be found."
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName="nogroup", UserName="alice")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The group with name nogroup cannot be found."
    with pytest.raises(ClientError) as exc:
        iam.list_groups_for_user(UserName="nobody")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_delete_conflicts_with_members_and_users_in_groups(iam: Any) -> None:
    iam.create_group(GroupName="team")
    iam.create_user(UserName="bob")
    iam.add_user_to_group(GroupName="team", UserName="bob")
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="team")
    assert error_of(exc) == ("DeleteConflict", 409)
    assert exc.value.response["Error"]["Message"] == "Cannot delete entity, must remove users from group first."
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="bob")
    assert error_of(exc) == ("DeleteConflict", 409)
    iam.remove_user_from_group(GroupName="team", UserName="bob")
    iam.delete_user(UserName="bob")
    iam.delete_group(GroupName="team")
    assert iam.list_groups()["Groups"] == []


def test_delete_conflicts_with_policies(iam: Any) -> None:
    iam.create_group(GroupName="pol")
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )
    iam.put_group_policy(GroupName="pol", PolicyName="inline", PolicyDocument=document)
    with pytest.raises(ClientError) as err:
        iam.delete_group(GroupName="pol")
    assert error_of(err) == ("DeleteConflict", 409)
    assert err.value.response["Error"]["Message"] == "Cannot delete entity, must delete policies first."
    iam.delete_group_policy(GroupName="pol", PolicyName="inline")
    policy_arn = iam.create_policy(PolicyName="managed", PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="pol", PolicyArn=policy_arn)
    with pytest.raises(ClientError) as err:
        iam.delete_group(GroupName="pol")
    assert error_of(err) == ("DeleteConflict", 409)
    assert err.value.response["Error"]["Message"] == "Cannot delete entity, must detach all policies first."
    iam.detach_group_policy(GroupName="pol", PolicyArn=policy_arn)
    iam.delete_group(GroupName="pol")
    assert iam.list_groups()["Groups"] == []


def test_groups_per_user_quota(iam: Any) -> None:
    limit = QuotaSettings().groups_per_user
    iam.create_user(UserName="joiner")
    for i in range(limit + 1):
        iam.create_group(GroupName=f"q{i:02d}")
    for i in range(limit):
        iam.add_user_to_group(GroupName=f"q{i:02d}", UserName="joiner")
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName=f"q{limit:02d}", UserName="joiner")
    assert error_of(exc) == ("LimitExceeded", 409)
    assert exc.value.response["Error"]["Message"] == f"Cannot exceed quota for GroupsPerUser: {limit}"
    iam.add_user_to_group(GroupName="q00", UserName="joiner")  # re-adding an existing membership is fine
    assert len(iam.list_groups_for_user(UserName="joiner")["Groups"]) == limit


def test_pagination(iam: Any) -> None:
    names = [f"group{i:02d}" for i in range(7)]
    for name in names:
        iam.create_group(GroupName=name)
    users = [f"u{i}" for i in range(5)]
    for user in users:
        iam.create_user(UserName=user)
        iam.add_user_to_group(GroupName="group00", UserName=user)
        iam.add_user_to_group(GroupName="group01", UserName=user)
        iam.add_user_to_group(GroupName="group02", UserName=user)

    def collect(call: Any, key: str, field: str, **kwargs: Any) -> tuple[list[str], int]:
        seen: list[str] = []
        marker = None
        pages = 0
        while True:
            args = dict(kwargs, MaxItems=2)
            if marker:
                args["Marker"] = marker
            page = call(**args)
            pages += 1
            seen += [item[field] for item in page[key]]
            if not page["IsTruncated"]:
                assert "Marker" not in page
                return seen, pages
            marker = page["Marker"]
            assert "group" not in marker  # opaque

    seen, pages = collect(iam.list_groups, "Groups", "GroupName")
    assert seen == names and pages == 4
    seen, pages = collect(iam.get_group, "Users", "UserName", GroupName="group00")
    assert seen == users and pages == 3
    seen, pages = collect(iam.list_groups_for_user, "Groups", "GroupName", UserName="u3")
    assert seen == ["group00", "group01", "group02"] and pages == 2
    paginated = [
        u["UserName"]
        for page in iam.get_paginator("get_group").paginate(GroupName="group01", PaginationConfig={"PageSize": 2})
        for u in page["Users"]
    ]
    assert paginated == users


def test_cross_account_isolation(iamd: Server, iam: Any) -> None:
    iam.create_group(GroupName="shared-name")
    iam.create_user(UserName="someone")
    other_id, other = second_account(iamd)
    assert other.list_groups()["Groups"] == []
    with pytest.raises(ClientError) as exc:
        other.get_group(GroupName="shared-name")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.delete_group(GroupName="shared-name")
    assert error_of(exc) == ("NoSuchEntity", 404)
    created = other.create_group(GroupName="shared-name")["Group"]  # names are per account
    assert created["Arn"] == f"arn:aws:iam::{other_id}:group/shared-name"
    with pytest.raises(ClientError) as exc:
        other.add_user_to_group(GroupName="shared-name", UserName="someone")  # a user of the first account
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert [g["GroupName"] for g in iam.list_groups()["Groups"]] == ["shared-name"]
    assert iam.get_group(GroupName="shared-name")["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:group/shared-name"


def test_server_side_validation(iamd: Server) -> None:
    raw = unvalidated(iamd)
    with pytest.raises(ClientError) as exc:
        raw.create_group(GroupName="bad name!")
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        raw.create_group(GroupName="x" * 129)
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        raw.create_group(GroupName="ok", Path="no-slashes")
    assert error_of(exc) == ("ValidationError", 400)
    assert raw.list_groups()["Groups"] == []


def test_aws_cli(iamd: Server) -> None:
    out = iamd.aws("iam", "create-group", "--group-name", "cli-group")
    assert out["Group"]["GroupName"] == "cli-group"
    iamd.aws("iam", "create-user", "--user-name", "cli-user")
    iamd.aws("iam", "add-user-to-group", "--group-name", "cli-group", "--user-name", "cli-user")
    got = iamd.aws("iam", "get-group", "--group-name", "cli-group")
    assert [u["UserName"] for u in got["Users"]] == ["cli-user"]
    listed = iamd.aws("iam", "list-groups-for-user", "--user-name", "cli-user")
    assert [g["GroupName"] for g in listed["Groups"]] == ["cli-group"]
    iamd.aws("iam", "remove-user-from-group", "--group-name", "cli-group", "--user-name", "cli-user")
    iamd.aws("iam", "delete-group", "--group-name", "cli-group")
    assert iamd.aws("iam", "list-groups")["Groups"] == []
