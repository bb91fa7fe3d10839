"""Instance profiles against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server, postgres_database, start_server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def names(profiles: list[dict[str, Any]]) -> list[str]:
    return [p["InstanceProfileName"] for p in profiles]


def test_create_get_list_delete(iam: Any) -> None:
    created = iam.create_instance_profile(InstanceProfileName="web", Path="/p/", Tags=[{"Key": "k", "Value": "v"}])[
        "InstanceProfile"
    ]
    assert re.fullmatch(r"AIPA[A-Z2-7]{17}", created["InstanceProfileId"])
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/p/web"
    assert created["Path"] == "/p/" and created["InstanceProfileName"] == "web"
    assert created["Roles"] == [] and created["Tags"] == [{"Key": "k", "Value": "v"}]
    assert "CreateDate" in created

    got = iam.get_instance_profile(InstanceProfileName="WEB")["InstanceProfile"]  # case-insensitive names
    assert got["InstanceProfileId"] == created["InstanceProfileId"] and got["InstanceProfileName"] == "web"
    assert got["Roles"] == [] and got["Tags"] == [{"Key": "k", "Value": "v"}]

    plain = iam.create_instance_profile(InstanceProfileName="plain")["InstanceProfile"]
    assert plain["Path"] == "/" and plain["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/plain"
    assert "Tags" not in plain

    listed = iam.list_instance_profiles()
    assert listed["IsTruncated"] is False
    assert names(listed["InstanceProfiles"]) == ["plain", "web"]
    assert all("Tags" not in p and p["Roles"] == [] for p in listed["InstanceProfiles"])

    iam.delete_instance_profile(InstanceProfileName="Web")
    with pytest.raises(ClientError) as exc:
        iam.get_instance_profile(InstanceProfileName="web")
    assert code(exc) == ("NoSuchEntity", 404)
    assert message(exc) == "Instance Profile web cannot be found."
    assert names(iam.list_instance_profiles()["InstanceProfiles"]) == ["plain"]
    # the name is free again, and the old tags are gone
    again = iam.create_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    assert again["InstanceProfileId"] != created["InstanceProfileId"]
    assert iam.list_instance_profile_tags(InstanceProfileName="web")["Tags"] == []


def test_duplicate_and_missing(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="dup")
    with pytest.raises(ClientError) as exc:
        iam.create_instance_profile(InstanceProfileName="DUP")
    assert code(exc) == ("EntityAlreadyExists", 409)
    assert message(exc) == "Instance Profile DUP already exists."
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    missing_profile: list[Callable[[], Any]] = [
        lambda: iam.get_instance_profile(InstanceProfileName="ghost"),
        lambda: iam.delete_instance_profile(InstanceProfileName="ghost"),
        lambda: iam.add_role_to_instance_profile(InstanceProfileName="ghost", RoleName="r"),
        lambda: iam.remove_role_from_instance_profile(InstanceProfileName="ghost", RoleName="r"),
        lambda: iam.tag_instance_profile(InstanceProfileName="ghost", Tags=[{"Key": "a", "Value": "b"}]),
        lambda: iam.untag_instance_profile(InstanceProfileName="ghost", TagKeys=["a"]),
        lambda: iam.list_instance_profile_tags(InstanceProfileName="ghost"),
    ]
    for call in missing_profile:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == ("NoSuchEntity", 404)
        assert message(exc) == "Instance Profile ghost cannot be found."
    missing_role: list[Callable[[], Any]] = [
        lambda: iam.add_role_to_instance_profile(InstanceProfileName="dup", RoleName="nobody"),
        lambda: iam.remove_role_from_instance_profile(InstanceProfileName="dup", RoleName="nobody"),
        lambda: iam.list_instance_profiles_for_role(RoleName="nobody"),
    ]
    for call in missing_role:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == ("NoSuchEntity", 404)
        assert message(exc) == "The role with name nobody cannot be found."
    with pytest.raises(ClientError) as exc:  # the role exists but is not in the profile
        iam.remove_role_from_instance_profile(InstanceProfileName="dup", RoleName="r")
    assert code(exc) == ("NoSuchEntity", 404)


def test_roles_in_profiles(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="web")
    role = iam.create_role(
        RoleName="web-role",
        AssumeRolePolicyDocument=TRUST,
        Description="serves",
        Tags=[{"Key": "t", "Value": "1"}],
        PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess",
    )["Role"]
    iam.create_role(RoleName="other", AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="WEB-ROLE")
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web-role")
    assert code(exc) == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="other")
    assert code(exc) == ("LimitExceeded", 409)
    assert message(exc) == "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"

    got = iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    [inner] = got["Roles"]
    assert inner["RoleName"] == "web-role" and inner["RoleId"] == role["RoleId"] and inner["Arn"] == role["Arn"]
    assert inner["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert inner["Description"] == "serves" and inner["MaxSessionDuration"] == 3600
    assert not {"Tags", "RoleLastUsed", "PermissionsBoundary"} & set(inner)  # the list form of Role
    [listed] = iam.list_instance_profiles()["InstanceProfiles"]
    assert [r["RoleName"] for r in listed["Roles"]] == ["web-role"]
    for_role = iam.list_instance_profiles_for_role(RoleName="web-role")
    assert names(for_role["InstanceProfiles"]) == ["web"] and for_role["IsTruncated"] is False
    assert [r["RoleName"] for r in for_role["InstanceProfiles"][0]["Roles"]] == ["web-role"]
    assert iam.list_instance_profiles_for_role(RoleName="other")["InstanceProfiles"] == []

    with pytest.raises(ClientError) as exc:
        iam.delete_instance_profile(InstanceProfileName="web")
    assert code(exc) == ("DeleteConflict", 409)
    assert message(exc) == "Cannot delete entity, must remove roles from instance profile first."
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="web-role")
    assert code(exc) == ("DeleteConflict", 409)

    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="web-role")
    assert iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]["Roles"] == []
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="other")  # room again
    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="other")
    iam.delete_instance_profile(InstanceProfileName="web")
    iam.delete_role(RoleName="web-role")


def test_one_role_in_many_profiles_and_pagination(iam: Any) -> None:
    iam.create_role(RoleName="shared", AssumeRolePolicyDocument=TRUST)
    for i in range(7):
        iam.create_instance_profile(InstanceProfileName=f"ip{i}", Path="/odd/" if i % 2 else "/")
        if i != 3:
            iam.add_role_to_instance_profile(InstanceProfileName=f"ip{i}", RoleName="shared")
    first = iam.list_instance_profiles_for_role(RoleName="shared", MaxItems=4)
    assert first["IsTruncated"] is True and names(first["InstanceProfiles"]) == ["ip0", "ip1", "ip2", "ip4"]
    assert "ip" not in first["Marker"]  # opaque
    second = iam.list_instance_profiles_for_role(RoleName="shared", MaxItems=4, Marker=first["Marker"])
    assert second["IsTruncated"] is False and names(second["InstanceProfiles"]) == ["ip5", "ip6"]
    assert "Marker" not in second
    paged = list(iam.get_paginator("list_instance_profiles").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["InstanceProfiles"]) for p in paged] == [3, 3, 1]
    assert [n for p in paged for n in names(p["InstanceProfiles"])] == [f"ip{i}" for i in range(7)]
    assert names(iam.list_instance_profiles(PathPrefix="/odd/")["InstanceProfiles"]) == ["ip1", "ip3", "ip5"]
    assert iam.list_instance_profiles(PathPrefix="/none/")["InstanceProfiles"] == []
    assert [len(p["Roles"]) for p in iam.list_instance_profiles()["InstanceProfiles"]] == [1, 1, 1, 0, 1, 1, 1]


def test_tags(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="t")
    iam.tag_instance_profile(InstanceProfileName="t", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.tag_instance_profile(InstanceProfileName="t", Tags=[{"Key": "A", "Value": "9"}])
    assert iam.list_instance_profile_tags(InstanceProfileName="t")["Tags"] == [
        {"Key": "A", "Value": "9"},
        {"Key": "b", "Value": "2"},
    ]
    assert iam.get_instance_profile(InstanceProfileName="t")["InstanceProfile"]["Tags"] == [
        {"Key": "A", "Value": "9"},
        {"Key": "b", "Value": "2"},
    ]
    iam.untag_instance_profile(InstanceProfileName="t", TagKeys=["a"])
    assert iam.list_instance_profile_tags(InstanceProfileName="t")["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_instance_profile(InstanceProfileName="t", Tags=[{"Key": "aws:x", "Value": "1"}])
    assert code(exc) == ("InvalidInput", 400)
    iam.tag_instance_profile(InstanceProfileName="t", Tags=[{"Key": f"k{i:02d}", "Value": "v"} for i in range(49)])
    with pytest.raises(ClientError) as exc:
        iam.tag_instance_profile(InstanceProfileName="t", Tags=[{"Key": "extra", "Value": "v"}])
    assert code(exc) == ("LimitExceeded", 409)
    first = iam.list_instance_profile_tags(InstanceProfileName="t", MaxItems=30)
    assert first["IsTruncated"] is True and len(first["Tags"]) == 30
    rest = iam.list_instance_profile_tags(InstanceProfileName="t", MaxItems=30, Marker=first["Marker"])
    assert rest["IsTruncated"] is False and len(rest["Tags"]) == 20


def test_service_linked_roles_cannot_join(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="ip")
    name = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")["Role"]["RoleName"]
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName=name)
    assert code(exc) == ("UnmodifiableEntity", 400)
    assert iam.get_instance_profile(InstanceProfileName="ip")["InstanceProfile"]["Roles"] == []


def test_cross_account_isolation(iamd: Server, iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="mine")
    iam.create_role(RoleName="mine-role", AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="mine", RoleName="mine-role")
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    other = iamd.client("iam", info["AccessKeyId"], info["SecretAccessKey"])
    assert other.list_instance_profiles()["InstanceProfiles"] == []
    foreign: list[Callable[[], Any]] = [
        lambda: other.get_instance_profile(InstanceProfileName="mine"),
        lambda: other.delete_instance_profile(InstanceProfileName="mine"),
        lambda: other.list_instance_profiles_for_role(RoleName="mine-role"),
        lambda: other.remove_role_from_instance_profile(InstanceProfileName="mine", RoleName="mine-role"),
    ]
    for call in foreign:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == ("NoSuchEntity", 404)
    # another account's role cannot be put into my profile
    other.create_role(RoleName="theirs", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="mine", RoleName="theirs")
    assert code(exc) == ("NoSuchEntity", 404)
    theirs = other.create_instance_profile(InstanceProfileName="mine")["InstanceProfile"]
    assert theirs["Arn"] == f"arn:aws:iam::{info['AccountId']}:instance-profile/mine"
    assert [
        r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName="mine")["InstanceProfile"]["Roles"]
    ] == ["mine-role"]


def test_instance_profiles_via_aws_cli(iamd: Server) -> None:
    out = iamd.aws("iam", "create-instance-profile", "--instance-profile-name", "cli-ip", "--path", "/c/")
    assert out["InstanceProfile"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/c/cli-ip"
    iamd.aws("iam", "create-role", "--role-name", "cli-role", "--assume-role-policy-document", TRUST)
    iamd.aws("iam", "add-role-to-instance-profile", "--instance-profile-name", "cli-ip", "--role-name", "cli-role")
    got = iamd.aws("iam", "get-instance-profile", "--instance-profile-name", "cli-ip")["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == ["cli-role"]
    listed = iamd.aws("iam", "list-instance-profiles-for-role", "--role-name", "cli-role")
    assert names(listed["InstanceProfiles"]) == ["cli-ip"]
    iamd.aws("iam", "remove-role-from-instance-profile", "--instance-profile-name", "cli-ip", "--role-name", "cli-role")
    iamd.aws("iam", "delete-instance-profile", "--instance-profile-name", "cli-ip")
    assert iamd.aws("iam", "list-instance-profiles")["InstanceProfiles"] == []


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tuned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"IAMD_QUOTAS": "instance_profiles=2"}
    data_dir = tmp_path_factory.mktemp(f"iamd-profiles-{request.param}")
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


def test_instance_profile_quota(tuned: Server) -> None:
    tuned.reset()
    iam = tuned.client("iam")
    iam.create_instance_profile(InstanceProfileName="one")
    iam.create_instance_profile(InstanceProfileName="two")
    with pytest.raises(ClientError) as exc:
        iam.create_instance_profile(InstanceProfileName="three")
    assert code(exc) == ("LimitExceeded", 409)
    assert message(exc) == "Cannot exceed quota for InstanceProfilesPerAccount: 2"
    iam.delete_instance_profile(InstanceProfileName="one")
    iam.create_instance_profile(InstanceProfileName="three")
    assert names(iam.list_instance_profiles()["InstanceProfiles"]) == ["three", "two"]
