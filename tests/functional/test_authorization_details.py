"""GetAccountAuthorizationDetails through boto3 and the AWS CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.test_server_certificates import error_of, second_account, unvalidated_client
from tests.support.server import ACCOUNT_ID, Server

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def as_dict(document: Any) -> Any:
    """boto3 decodes URL-encoded policy documents into dicts; the CLI too."""
    return json.loads(document) if isinstance(document, str) else document


def all_items(iam: Any, **kwargs: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {k: [] for k in LISTS}
    markers: list[str] = []
    while True:
        page = iam.get_account_authorization_details(**kwargs)
        for k in LISTS:
            out[k] += page.get(k, [])
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        markers.append(page["Marker"])
        kwargs["Marker"] = page["Marker"]
    out["_markers"] = markers
    return out


def test_empty_account(iam: Any) -> None:
    out = iam.get_account_authorization_details()
    for k in LISTS:
        assert out[k] == []
    assert out["IsTruncated"] is False


def test_users_and_groups(iam: Any) -> None:
    iam.create_user(UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "core"}])
    iam.create_user(UserName="bob")
    iam.create_group(GroupName="devs", Path="/g/")
    iam.create_group(GroupName="admins")
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    out = iam.get_account_authorization_details(Filter=["User", "Group"])
    assert out["RoleDetailList"] == [] and out["Policies"] == []
    users = {u["UserName"]: u for u in out["UserDetailList"]}
    assert list(users) == ["alice", "bob"]
    alice = users["alice"]
    assert alice["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/eng/alice"
    assert alice["Path"] == "/eng/"
    assert alice["UserId"].startswith("AIDA")
    assert alice["GroupList"] == ["admins", "devs"]
    assert alice["Tags"] == [{"Key": "team", "Value": "core"}]
    assert alice["UserPolicyList"] == [] and alice["AttachedManagedPolicies"] == []
    assert users["bob"]["GroupList"] == []
    assert "Tags" not in users["bob"]
    groups = {g["GroupName"]: g for g in out["GroupDetailList"]}
    assert list(groups) == ["admins", "devs"]
    assert groups["devs"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:group/g/devs"
    assert groups["devs"]["GroupPolicyList"] == []

    only_groups = iam.get_account_authorization_details(Filter=["Group"])
    assert only_groups["UserDetailList"] == []
    assert [g["GroupName"] for g in only_groups["GroupDetailList"]] == ["admins", "devs"]


def test_users_groups_and_policies(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.create_group(GroupName="devs")
    policy = iam.create_policy(PolicyName="read", PolicyDocument=json.dumps(DOC), Path="/app/")["Policy"]
    iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=json.dumps(DOC2), SetAsDefault=True)
    iam.put_user_policy(UserName="alice", PolicyName="inline-u", PolicyDocument=json.dumps(DOC))
    iam.put_group_policy(GroupName="devs", PolicyName="inline-g", PolicyDocument=json.dumps(DOC))
    iam.attach_user_policy(UserName="alice", PolicyArn=policy["Arn"])
    iam.attach_group_policy(GroupName="devs", PolicyArn=policy["Arn"])
    iam.put_user_permissions_boundary(UserName="alice", PermissionsBoundary=policy["Arn"])

    out = iam.get_account_authorization_details()
    assert out["IsTruncated"] is False
    (alice,) = out["UserDetailList"]
    assert alice["UserPolicyList"][0]["PolicyName"] == "inline-u"
    assert as_dict(alice["UserPolicyList"][0]["PolicyDocument"]) == DOC
    assert alice["AttachedManagedPolicies"] == [{"PolicyName": "read", "PolicyArn": policy["Arn"]}]
    assert alice["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": policy["Arn"],
    }
    (devs,) = out["GroupDetailList"]
    assert devs["GroupPolicyList"][0]["PolicyName"] == "inline-g"
    assert as_dict(devs["GroupPolicyList"][0]["PolicyDocument"]) == DOC
    assert devs["AttachedManagedPolicies"] == [{"PolicyName": "read", "PolicyArn": policy["Arn"]}]
    (read,) = out["Policies"]
    assert read["PolicyName"] == "read"
    assert read["PolicyId"] == policy["PolicyId"]
    assert read["Arn"] == policy["Arn"]
    assert read["Path"] == "/app/"
    assert read["DefaultVersionId"] == "v2"
    assert read["AttachmentCount"] == 2
    assert read["PermissionsBoundaryUsageCount"] == 1
    assert read["IsAttachable"] is True
    versions = {v["VersionId"]: v for v in read["PolicyVersionList"]}
    assert set(versions) == {"v1", "v2"}
    assert versions["v2"]["IsDefaultVersion"] is True
    assert versions["v1"]["IsDefaultVersion"] is False
    assert as_dict(versions["v1"]["Document"]) == DOC
    assert as_dict(versions["v2"]["Document"]) == DOC2

    local = iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])
    assert [p["PolicyName"] for p in local["Policies"]] == ["read"]
    assert local["UserDetailList"] == [] and local["GroupDetailList"] == []
    assert iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])["Policies"] == []


def test_roles(iam: Any) -> None:
    policy = iam.create_policy(PolicyName="read", PolicyDocument=json.dumps(DOC))["Policy"]
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=json.dumps(TRUST), Description="web")
    iam.put_role_policy(RoleName="web", PolicyName="inline-r", PolicyDocument=json.dumps(DOC))
    iam.attach_role_policy(RoleName="web", PolicyArn=policy["Arn"])
    iam.put_role_permissions_boundary(RoleName="web", PermissionsBoundary=policy["Arn"])
    iam.tag_role(RoleName="web", Tags=[{"Key": "tier", "Value": "front"}])
    iam.create_instance_profile(InstanceProfileName="web-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web")

    out = iam.get_account_authorization_details(Filter=["Role"])
    assert out["UserDetailList"] == [] and out["Policies"] == []
    (web,) = out["RoleDetailList"]
    assert web["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/web"
    assert web["RoleId"].startswith("AROA")
    assert as_dict(web["AssumeRolePolicyDocument"]) == TRUST
    assert web["RolePolicyList"][0]["PolicyName"] == "inline-r"
    assert as_dict(web["RolePolicyList"][0]["PolicyDocument"]) == DOC
    assert web["AttachedManagedPolicies"] == [{"PolicyName": "read", "PolicyArn": policy["Arn"]}]
    assert web["PermissionsBoundary"]["PermissionsBoundaryArn"] == policy["Arn"]
    assert web["Tags"] == [{"Key": "tier", "Value": "front"}]
    assert web["RoleLastUsed"] == {}
    (profile,) = web["InstanceProfileList"]
    assert profile["InstanceProfileName"] == "web-profile"
    assert profile["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/web-profile"
    assert [r["RoleName"] for r in profile["Roles"]] == ["web"]
    assert as_dict(profile["Roles"][0]["AssumeRolePolicyDocument"]) == TRUST
    policies = iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])["Policies"]
    assert policies[0]["AttachmentCount"] == 1
    assert policies[0]["PermissionsBoundaryUsageCount"] == 1


def test_aws_managed_policies_listed_only_when_used(iam: Any) -> None:
    arn = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    iam.create_user(UserName="alice")
    assert iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])["Policies"] == []
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    out = iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])
    (policy,) = out["Policies"]
    assert policy["Arn"] == arn
    assert policy["AttachmentCount"] == 1
    assert any(v["IsDefaultVersion"] for v in policy["PolicyVersionList"])
    assert iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])["Policies"] == []


def test_pagination_across_lists(iam: Any) -> None:
    for name in ("u1", "u2", "u3"):
        iam.create_user(UserName=name)
    for name in ("g1", "g2"):
        iam.create_group(GroupName=name)
    everything = iam.get_account_authorization_details()
    for size in (1, 2, 3, 4, 5, 6):
        paged = all_items(iam, MaxItems=size)
        for k in LISTS:
            assert paged[k] == everything[k], (size, k)
        total = 5
        assert len(paged["_markers"]) == (total - 1) // size
    # Markers are opaque: no names in the clear.
    page = iam.get_account_authorization_details(MaxItems=2)
    assert page["IsTruncated"] is True
    assert "u2" not in page["Marker"] and "User" not in page["Marker"]
    paginator = iam.get_paginator("get_account_authorization_details")
    pages = list(paginator.paginate(Filter=["User"], PaginationConfig={"PageSize": 2}))
    assert [u["UserName"] for p in pages for u in p["UserDetailList"]] == ["u1", "u2", "u3"]
    assert len(pages) == 2


def test_bad_marker(iamd: Server, iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_account_authorization_details(Marker="garbage")
    assert error_of(exc) == ("InvalidInput", 400)
    raw = unvalidated_client(iamd)
    with pytest.raises(ClientError) as exc:
        raw.get_account_authorization_details(Filter=["Nothing"])
    assert error_of(exc) == ("ValidationError", 400)


def test_accounts_are_isolated(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="mine")
    iam.create_group(GroupName="ours")
    other = second_account(iamd)
    out = other.get_account_authorization_details()
    for k in LISTS:
        assert out[k] == []


def test_aws_cli(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="cli-user")
    iam.create_group(GroupName="cli-group")
    iam.add_user_to_group(GroupName="cli-group", UserName="cli-user")
    out = iamd.aws("iam", "get-account-authorization-details", "--page-size", "1")
    assert [u["UserName"] for u in out["UserDetailList"]] == ["cli-user"]
    assert out["UserDetailList"][0]["GroupList"] == ["cli-group"]
    assert [g["GroupName"] for g in out["GroupDetailList"]] == ["cli-group"]
