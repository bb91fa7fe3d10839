"""Managed policies through boto3 and the AWS CLI against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server, start_server

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
CHANGE_PASSWORD = "arn:aws:iam::aws:policy/IAMUserChangePassword"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def message_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def doc(*actions: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}
    )


def local_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:policy{path}{name}"


def second_account(iamd: Server) -> Any:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    return iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])


# --- customer managed policies ------------------------------------------------------------------------


def test_create_get_list_delete(iam: Any) -> None:
    created = iam.create_policy(
        PolicyName="s3-read",
        Path="/team/",
        PolicyDocument=doc("s3:Get*"),
        Description="read buckets",
        Tags=[{"Key": "owner", "Value": "core"}],
    )["Policy"]
    assert created["PolicyName"] == "s3-read"
    assert created["Arn"] == local_arn("s3-read", "/team/")
    assert created["Path"] == "/team/"
    assert created["PolicyId"].startswith("ANPA") and len(created["PolicyId"]) == 21
    assert created["DefaultVersionId"] == "v1"
    assert created["AttachmentCount"] == 0
    assert created["PermissionsBoundaryUsageCount"] == 0
    assert created["IsAttachable"] is True
    assert created["Tags"] == [{"Key": "owner", "Value": "core"}]
    assert "Description" not in created  # CreatePolicy does not echo it; GetPolicy does
    assert created["CreateDate"] == created["UpdateDate"]

    got = iam.get_policy(PolicyArn=created["Arn"])["Policy"]
    assert got["PolicyId"] == created["PolicyId"]
    assert got["Description"] == "read buckets"
    assert got["Tags"] == [{"Key": "owner", "Value": "core"}]
    assert got["CreateDate"] == created["CreateDate"]

    version = iam.get_policy_version(PolicyArn=created["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(doc("s3:Get*"))  # boto3 decodes the URL-encoded JSON
    assert version["IsDefaultVersion"] is True
    assert version["VersionId"] == "v1"

    local = iam.list_policies(Scope="Local")["Policies"]
    assert [p["PolicyName"] for p in local] == ["s3-read"]
    assert "Description" not in local[0] and "Tags" not in local[0]  # listings carry a subset, as AWS's

    iam.delete_policy(PolicyArn=created["Arn"])
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=created["Arn"])
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert message_of(exc) == f"Policy {created['Arn']} was not found."
    assert iam.list_policies(Scope="Local")["Policies"] == []
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=created["Arn"])
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_document_text_is_returned_as_sent(iam: Any) -> None:
    text = '{\n  "Version": "2012-10-17",\n  "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}\n}'
    arn = iam.create_policy(PolicyName="spaced", PolicyDocument=text)["Policy"]["Arn"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(text)


def test_duplicate_name_is_case_insensitive(iam: Any) -> None:
    iam.create_policy(PolicyName="Dup", PolicyDocument=doc("s3:*"))
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="dup", Path="/other/", PolicyDocument=doc("s3:*"))
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    assert message_of(exc) == "A policy called dup already exists. Duplicate names are not allowed."


def test_same_name_as_an_aws_managed_policy_is_allowed(iam: Any) -> None:
    mine = iam.create_policy(PolicyName="AdministratorAccess", PolicyDocument=doc("s3:*"))["Policy"]
    assert mine["Arn"] == local_arn("AdministratorAccess")
    names = [p["Arn"] for p in iam.list_policies()["Policies"] if p["PolicyName"] == "AdministratorAccess"]
    assert sorted(names) == sorted([ADMIN, mine["Arn"]])


def test_malformed_and_oversized_documents(iam: Any) -> None:
    for bad in ("not json", json.dumps({"Version": "2012-10-17"}), doc("s3:*").replace('"Allow"', '"Maybe"')):
        with pytest.raises(ClientError) as exc:
            iam.create_policy(PolicyName="bad", PolicyDocument=bad)
        assert error_of(exc) == ("MalformedPolicyDocument", 400)
    huge = doc(*[f"s3:GetObjectVersion{i:05d}" for i in range(300)])
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="huge", PolicyDocument=huge)
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == "Cannot exceed quota for PolicySize: 6144"
    assert iam.list_policies(Scope="Local")["Policies"] == []


def test_server_side_validation(iamd: Server) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="no-document")
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="bad path", PolicyDocument=doc("s3:*"), Path="nope")
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        iam.list_policies(Scope="Everything")
    assert error_of(exc) == ("ValidationError", 400)


def test_tags(iam: Any) -> None:
    created = iam.create_policy(PolicyName="tagged", PolicyDocument=doc("s3:*"))["Policy"]
    assert "Tags" not in created  # none given
    arn = created["Arn"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == []  # GetPolicy answers Tags even when empty
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "B", "Value": "2"}])
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "A", "Value": "3"}])
    tags = iam.list_policy_tags(PolicyArn=arn)["Tags"]
    assert tags == [{"Key": "A", "Value": "3"}, {"Key": "B", "Value": "2"}]
    page = iam.list_policy_tags(PolicyArn=arn, MaxItems=1)
    assert page["IsTruncated"] is True and len(page["Tags"]) == 1
    rest = iam.list_policy_tags(PolicyArn=arn, Marker=page["Marker"])
    assert len(rest["Tags"]) == 1 and rest["IsTruncated"] is False
    iam.untag_policy(PolicyArn=arn, TagKeys=["b"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "A", "Value": "3"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert error_of(exc) == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as exc:
        iam.tag_policy(PolicyArn=local_arn("missing"), Tags=[{"Key": "a", "Value": "b"}])
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(
            PolicyName="dup-tags",
            PolicyDocument=doc("s3:*"),
            Tags=[{"Key": "x", "Value": "1"}, {"Key": "X", "Value": "2"}],
        )
    assert error_of(exc) == ("InvalidInput", 400)
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == ["tagged"]


# --- versions -----------------------------------------------------------------------------------------


def test_versions_lifecycle(iam: Any) -> None:
    created = iam.create_policy(PolicyName="versioned", PolicyDocument=doc("s3:GetObject"))["Policy"]
    arn = created["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:PutObject"))["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is False
    assert "Document" not in v2
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["DefaultVersionId"] == "v1"
    assert policy["UpdateDate"] >= created["UpdateDate"]

    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:DeleteObject"), SetAsDefault=True)
    assert v3["PolicyVersion"]["VersionId"] == "v3" and v3["PolicyVersion"]["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"

    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v3", True), ("v2", False), ("v1", False)]
    assert all("Document" not in v for v in versions)

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]
    assert got["IsDefaultVersion"] is True and got["Document"] == json.loads(doc("s3:PutObject"))

    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert error_of(exc) == ("DeleteConflict", 409)
    assert message_of(exc) == "Cannot delete the default version of a policy."

    iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    # numbers are never reused
    v4 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:ListBucket"))["PolicyVersion"]
    assert v4["VersionId"] == "v4"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v4", "v2", "v1"]

    for missing in ("v3", "v99"):
        with pytest.raises(ClientError) as exc:
            iam.get_policy_version(PolicyArn=arn, VersionId=missing)
        assert error_of(exc) == ("NoSuchEntity", 404)
        with pytest.raises(ClientError) as exc:
            iam.delete_policy_version(PolicyArn=arn, VersionId=missing)
        assert error_of(exc) == ("NoSuchEntity", 404)
        with pytest.raises(ClientError) as exc:
            iam.set_default_policy_version(PolicyArn=arn, VersionId=missing)
        assert error_of(exc) == ("NoSuchEntity", 404)

    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument="{bad")
    assert error_of(exc) == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=local_arn("missing"), PolicyDocument=doc("s3:*"))
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_version_quota_and_pagination(iam: Any) -> None:
    arn = iam.create_policy(PolicyName="five", PolicyDocument=doc("s3:GetObject"))["Policy"]["Arn"]
    for i in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(f"s3:Action{i}"))
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:TooMany"))
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == (
        "A managed policy can have up to 5 versions. "
        "Before you create a new version, you must delete an existing version."
    )
    seen: list[str] = []
    marker = None
    while True:
        kwargs: dict[str, Any] = {"PolicyArn": arn, "MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_policy_versions(**kwargs)
        seen += [v["VersionId"] for v in page["Versions"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == ["v5", "v4", "v3", "v2", "v1"]


def test_update_date_follows_the_newest_version(iam: Any) -> None:
    created = iam.create_policy(PolicyName="dated", PolicyDocument=doc("s3:GetObject"))["Policy"]
    arn = created["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:PutObject"))["PolicyVersion"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["UpdateDate"] == v2["CreateDate"]
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["UpdateDate"] == created["CreateDate"]


# --- deleting ------------------------------------------------------------------------------------------


def test_delete_conflicts(iam: Any) -> None:
    arn = iam.create_policy(PolicyName="busy", PolicyDocument=doc("s3:*"))["Policy"]["Arn"]
    iam.create_user(UserName="u1")
    iam.attach_user_policy(UserName="u1", PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc) == ("DeleteConflict", 409)
    assert message_of(exc) == "Cannot delete a policy attached to entities."
    iam.detach_user_policy(UserName="u1", PolicyArn=arn)

    iam.create_user(UserName="u2", PermissionsBoundary=arn)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc) == ("DeleteConflict", 409)
    iam.delete_user_permissions_boundary(UserName="u2")

    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:GetObject"))
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc) == ("DeleteConflict", 409)
    assert "more than one version" in message_of(exc)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")

    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    iam.delete_policy(PolicyArn=arn)
    # the name is free again, and the new policy starts fresh
    again = iam.create_policy(PolicyName="busy", PolicyDocument=doc("s3:*"))["Policy"]
    assert again["DefaultVersionId"] == "v1"
    assert iam.list_policy_tags(PolicyArn=again["Arn"])["Tags"] == []
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=again["Arn"])["Versions"]] == ["v1"]


# --- listing ---------------------------------------------------------------------------------------------


def test_list_policies_scopes_filters_and_pagination(iam: Any) -> None:
    names = [f"pol{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        iam.create_policy(PolicyName=name, Path="/even/" if i % 2 == 0 else "/odd/", PolicyDocument=doc("s3:*"))

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"Scope": "Local", "MaxItems": 5}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_policies(**kwargs)
        pages += 1
        seen += [p["PolicyName"] for p in page["Policies"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
        assert "pol" not in marker
    assert seen == names and pages == 3
    paginated = [
        p["PolicyName"]
        for page in iam.get_paginator("list_policies").paginate(Scope="Local", PaginationConfig={"PageSize": 4})
        for p in page["Policies"]
    ]
    assert paginated == names

    even = iam.list_policies(Scope="Local", PathPrefix="/even/")["Policies"]
    assert [p["PolicyName"] for p in even] == names[0::2]

    pager = iam.get_paginator("list_policies")
    aws = [p for page in pager.paginate(Scope="AWS") for p in page["Policies"]]
    aws_names = {p["PolicyName"] for p in aws}
    assert {"AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess", "IAMUserChangePassword"} <= aws_names
    assert all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in aws)
    everything = {p["Arn"] for page in pager.paginate() for p in page["Policies"]}
    assert len(everything) == len(aws) + len(names)

    assert iam.list_policies(OnlyAttached=True)["Policies"] == []
    iam.create_user(UserName="user")
    iam.attach_user_policy(UserName="user", PolicyArn=local_arn("pol03", "/odd/"))
    iam.attach_user_policy(UserName="user", PolicyArn=READ_ONLY)
    attached = iam.list_policies(OnlyAttached=True)["Policies"]
    assert sorted(p["PolicyName"] for p in attached) == ["IAMReadOnlyAccess", "pol03"]
    assert all(p["AttachmentCount"] == 1 for p in attached)
    assert [p["PolicyName"] for p in iam.list_policies(OnlyAttached=True, Scope="AWS")["Policies"]] == [
        "IAMReadOnlyAccess"
    ]
    assert [p["PolicyName"] for p in iam.list_policies(OnlyAttached=True, Scope="Local")["Policies"]] == ["pol03"]
    assert iam.list_policies(PolicyUsageFilter="PermissionsBoundary")["Policies"] == []
    iam.put_user_permissions_boundary(UserName="user", PermissionsBoundary=local_arn("pol05", "/odd/"))
    bounded = iam.list_policies(PolicyUsageFilter="PermissionsBoundary", OnlyAttached=True)["Policies"]
    assert [(p["PolicyName"], p["PermissionsBoundaryUsageCount"]) for p in bounded] == [("pol05", 1)]
    permissions = iam.list_policies(PolicyUsageFilter="PermissionsPolicy", OnlyAttached=True)["Policies"]
    assert sorted(p["PolicyName"] for p in permissions) == ["IAMReadOnlyAccess", "pol03"]


# --- AWS managed policies --------------------------------------------------------------------------------


def test_aws_managed_policies_are_there(iam: Any) -> None:
    admin = iam.get_policy(PolicyArn=ADMIN)["Policy"]
    assert admin["PolicyName"] == "AdministratorAccess"
    assert admin["Path"] == "/"
    assert admin["DefaultVersionId"] == "v1"
    assert admin["IsAttachable"] is True
    assert admin["PolicyId"].startswith("ANPA") and len(admin["PolicyId"]) == 21
    assert admin["Description"] == "Provides full access to AWS services and resources."
    version = iam.get_policy_version(PolicyArn=ADMIN, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    change = iam.get_policy(PolicyArn=CHANGE_PASSWORD)["Policy"]
    assert change["Path"] == "/" and change["DefaultVersionId"] == "v5"
    read_only = iam.get_policy(PolicyArn=READ_ONLY)["Policy"]
    assert read_only["DefaultVersionId"] == "v4"
    actions = iam.get_policy_version(PolicyArn=READ_ONLY, VersionId="v4")["PolicyVersion"]["Document"]
    assert "iam:List*" in actions["Statement"][0]["Action"]
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=READ_ONLY)["Versions"]] == ["v4"]
    assert iam.list_policy_tags(PolicyArn=ADMIN)["Tags"] == []
    full = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")["Policy"]
    assert full["DefaultVersionId"] == "v2"
    # AWS's own policy ids
    assert admin["PolicyId"] == "ANPAIWMBCKSKIEE64ZLYK"


def test_aws_managed_policies_cannot_be_changed(iamd: Server, iam: Any) -> None:
    """Whatever the caller's policies say: the root, and a user with AdministratorAccess."""
    iam.create_user(UserName="admin")
    iam.attach_user_policy(UserName="admin", PolicyArn=ADMIN)
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    for client, caller in ((iam, f"arn:aws:iam::{ACCOUNT_ID}:root"), (admin, f"arn:aws:iam::{ACCOUNT_ID}:user/admin")):
        calls: list[tuple[str, Callable[[], Any]]] = [
            ("DeletePolicy", lambda c=client: c.delete_policy(PolicyArn=ADMIN)),
            (
                "CreatePolicyVersion",
                lambda c=client: c.create_policy_version(PolicyArn=ADMIN, PolicyDocument=doc("s3:*")),
            ),
            ("DeletePolicyVersion", lambda c=client: c.delete_policy_version(PolicyArn=ADMIN, VersionId="v1")),
            ("SetDefaultPolicyVersion", lambda c=client: c.set_default_policy_version(PolicyArn=ADMIN, VersionId="v1")),
            ("TagPolicy", lambda c=client: c.tag_policy(PolicyArn=ADMIN, Tags=[{"Key": "a", "Value": "b"}])),
            ("UntagPolicy", lambda c=client: c.untag_policy(PolicyArn=ADMIN, TagKeys=["a"])),
        ]
        for action, call in calls:
            with pytest.raises(ClientError) as exc:
                call()
            assert error_of(exc) == ("AccessDenied", 403)
            assert message_of(exc) == (
                f"User: {caller} is not authorized to perform: iam:{action} on resource: policy {ADMIN}"
            )
    assert iam.get_policy(PolicyArn=ADMIN)["Policy"]["DefaultVersionId"] == "v1"


def test_unknown_aws_policy(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicyAtAll")
    assert error_of(exc) == ("NoSuchEntity", 404)


# --- isolation ---------------------------------------------------------------------------------------------


def test_accounts_do_not_see_each_others_policies(iamd: Server, iam: Any) -> None:
    mine = iam.create_policy(PolicyName="private", PolicyDocument=doc("s3:*"))["Policy"]["Arn"]
    other = second_account(iamd)
    with pytest.raises(ClientError) as exc:
        other.get_policy(PolicyArn=mine)
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.delete_policy(PolicyArn=mine)
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.get_policy_version(PolicyArn=mine, VersionId="v1")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert other.list_policies(Scope="Local")["Policies"] == []
    # same name in the other account is a different policy
    theirs = other.create_policy(PolicyName="private", PolicyDocument=doc("ec2:*"))["Policy"]
    assert theirs["Arn"] != mine
    # both see the AWS managed ones, with their own counts
    other.create_user(UserName="them")
    other.attach_user_policy(UserName="them", PolicyArn=ADMIN)
    assert other.get_policy(PolicyArn=ADMIN)["Policy"]["AttachmentCount"] == 1
    assert iam.get_policy(PolicyArn=ADMIN)["Policy"]["AttachmentCount"] == 0
    assert iam.list_policies(OnlyAttached=True)["Policies"] == []


# --- the AWS CLI ---------------------------------------------------------------------------------------------


def test_aws_cli_tour(iamd: Server) -> None:
    created = iamd.aws("iam", "create-policy", "--policy-name", "cli-policy", "--policy-document", doc("s3:GetObject"))[
        "Policy"
    ]
    assert created["Arn"] == local_arn("cli-policy")
    iamd.aws(
        "iam",
        "create-policy-version",
        "--policy-arn",
        created["Arn"],
        "--policy-document",
        doc("s3:PutObject"),
        "--set-as-default",
    )
    version = iamd.aws("iam", "get-policy-version", "--policy-arn", created["Arn"], "--version-id", "v2")
    assert version["PolicyVersion"]["Document"]["Statement"][0]["Action"] == ["s3:PutObject"]
    listed = iamd.aws("iam", "list-policies", "--scope", "Local")
    assert [p["PolicyName"] for p in listed["Policies"]] == ["cli-policy"]
    admin = iamd.aws("iam", "get-policy", "--policy-arn", ADMIN)
    assert admin["Policy"]["DefaultVersionId"] == "v1"


# --- quotas and partitions on a dedicated server ------------------------------------------------------------


def test_managed_policy_quota(tmp_path: Path) -> None:
    data_dir = tmp_path / "quota"
    data_dir.mkdir()
    srv = start_server(data_dir, extra_env={"IAMD_QUOTAS": "managed_policies=2"})
    try:
        iam = srv.client("iam")
        iam.create_policy(PolicyName="one", PolicyDocument=doc("s3:*"))
        iam.create_policy(PolicyName="two", PolicyDocument=doc("s3:*"))
        with pytest.raises(ClientError) as exc:
            iam.create_policy(PolicyName="three", PolicyDocument=doc("s3:*"))
        assert error_of(exc) == ("LimitExceeded", 409)
        assert message_of(exc) == "Cannot exceed quota for PoliciesPerAccount: 2"
        iam.delete_policy(PolicyArn=local_arn("one"))
        iam.create_policy(PolicyName="three", PolicyDocument=doc("s3:*"))
    finally:
        srv.stop()


def test_aws_managed_arns_follow_the_partition(tmp_path: Path) -> None:
    data_dir = tmp_path / "cn"
    data_dir.mkdir()
    srv = start_server(data_dir, extra_args=["--partition", "aws-cn"])
    try:
        iam = srv.client("iam", region="cn-north-1")
        admin = iam.get_policy(PolicyArn="arn:aws-cn:iam::aws:policy/AdministratorAccess")["Policy"]
        assert admin["Arn"] == "arn:aws-cn:iam::aws:policy/AdministratorAccess"
        mine = iam.create_policy(PolicyName="mine", PolicyDocument=doc("s3:*"))["Policy"]
        assert mine["Arn"] == f"arn:aws-cn:iam::{ACCOUNT_ID}:policy/mine"
        iam.create_user(UserName="u")
        iam.attach_user_policy(UserName="u", PolicyArn=admin["Arn"])
        assert iam.list_attached_user_policies(UserName="u")["AttachedPolicies"][0]["PolicyArn"] == admin["Arn"]
    finally:
        srv.stop()
