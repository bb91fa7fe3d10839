"""Managed policy attachments and ListEntitiesForPolicy against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def message_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def doc(action: str = "s3:*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def make_policy(iam: Any, name: str, path: str = "/") -> str:
    return str(iam.create_policy(PolicyName=name, Path=path, PolicyDocument=doc())["Policy"]["Arn"])


def make_role(iam: Any, name: str, path: str = "/") -> None:
    iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)


def second_account(iamd: Server) -> Any:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    return iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])


def attached_names(page: dict[str, Any]) -> list[str]:
    return [p["PolicyName"] for p in page["AttachedPolicies"]]


# --- attach, list, detach -------------------------------------------------------------------------------


def test_user_attachments(iam: Any) -> None:
    iam.create_user(UserName="alice")
    mine = make_policy(iam, "mine", "/team/")
    iam.attach_user_policy(UserName="alice", PolicyArn=mine)
    iam.attach_user_policy(UserName="ALICE", PolicyArn=ADMIN)
    iam.attach_user_policy(UserName="alice", PolicyArn=ADMIN)  # twice: nothing changes
    page = iam.list_attached_user_policies(UserName="alice")
    assert page["AttachedPolicies"] == [
        {"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN},
        {"PolicyName": "mine", "PolicyArn": mine},
    ]
    assert page["IsTruncated"] is False
    assert attached_names(iam.list_attached_user_policies(UserName="alice", PathPrefix="/team/")) == ["mine"]
    assert iam.get_policy(PolicyArn=mine)["Policy"]["AttachmentCount"] == 1
    assert iam.get_policy(PolicyArn=ADMIN)["Policy"]["AttachmentCount"] == 1

    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="alice")
    assert error_of(exc) == ("DeleteConflict", 409)

    iam.detach_user_policy(UserName="alice", PolicyArn=ADMIN)
    assert attached_names(iam.list_attached_user_policies(UserName="alice")) == ["mine"]
    with pytest.raises(ClientError) as exc:
        iam.detach_user_policy(UserName="alice", PolicyArn=ADMIN)
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert message_of(exc) == f"Policy {ADMIN} was not found."
    iam.detach_user_policy(UserName="alice", PolicyArn=mine)
    assert iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"] == []
    iam.delete_user(UserName="alice")


def test_group_attachments(iam: Any) -> None:
    iam.create_group(GroupName="devs")
    mine = make_policy(iam, "group-policy")
    iam.attach_group_policy(GroupName="devs", PolicyArn=mine)
    iam.attach_group_policy(GroupName="devs", PolicyArn=READ_ONLY)
    assert attached_names(iam.list_attached_group_policies(GroupName="devs")) == ["group-policy", "IAMReadOnlyAccess"]
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="devs")
    assert error_of(exc) == ("DeleteConflict", 409)
    iam.detach_group_policy(GroupName="devs", PolicyArn=mine)
    iam.detach_group_policy(GroupName="devs", PolicyArn=READ_ONLY)
    assert iam.list_attached_group_policies(GroupName="devs")["AttachedPolicies"] == []
    with pytest.raises(ClientError) as exc:
        iam.detach_group_policy(GroupName="devs", PolicyArn=mine)
    assert error_of(exc) == ("NoSuchEntity", 404)
    iam.delete_group(GroupName="devs")


def test_role_attachments(iam: Any) -> None:
    make_role(iam, "worker")
    mine = make_policy(iam, "role-policy")
    iam.attach_role_policy(RoleName="worker", PolicyArn=mine)
    iam.attach_role_policy(RoleName="worker", PolicyArn=ADMIN)
    assert attached_names(iam.list_attached_role_policies(RoleName="worker")) == ["AdministratorAccess", "role-policy"]
    iam.detach_role_policy(RoleName="worker", PolicyArn=ADMIN)
    assert attached_names(iam.list_attached_role_policies(RoleName="worker")) == ["role-policy"]
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName="worker", PolicyArn=ADMIN)
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_missing_entities_and_policies(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName="nobody", PolicyArn=ADMIN)
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert message_of(exc) == "The user with name nobody cannot be found."
    with pytest.raises(ClientError) as exc:
        iam.attach_group_policy(GroupName="nogroup", PolicyArn=ADMIN)
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert message_of(exc) == "The group with name nogroup cannot be found."
    with pytest.raises(ClientError) as exc:
        iam.list_attached_user_policies(UserName="nobody")
    assert error_of(exc) == ("NoSuchEntity", 404)

    iam.create_user(UserName="bob")
    for arn in (f"arn:aws:iam::{ACCOUNT_ID}:policy/missing", "arn:aws:iam::aws:policy/NotAnAwsPolicy"):
        with pytest.raises(ClientError) as exc:
            iam.attach_user_policy(UserName="bob", PolicyArn=arn)
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert message_of(exc) == f"Policy {arn} does not exist or is not attachable."
        with pytest.raises(ClientError) as exc:
            iam.detach_user_policy(UserName="bob", PolicyArn=arn)
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert message_of(exc) == f"Policy {arn} was not found."


def test_attachment_quota_per_user_and_group(iam: Any) -> None:
    iam.create_user(UserName="busy")
    iam.create_group(GroupName="busy-group")
    arns = [make_policy(iam, f"p{i:02d}") for i in range(11)]
    for arn in arns[:10]:
        iam.attach_user_policy(UserName="busy", PolicyArn=arn)
        iam.attach_group_policy(GroupName="busy-group", PolicyArn=arn)
    iam.attach_user_policy(UserName="busy", PolicyArn=arns[0])  # already attached: still fine at the limit
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName="busy", PolicyArn=arns[10])
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == "Cannot exceed quota for PoliciesPerUser: 10"
    with pytest.raises(ClientError) as exc:
        iam.attach_group_policy(GroupName="busy-group", PolicyArn=ADMIN)
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == "Cannot exceed quota for PoliciesPerGroup: 10"
    iam.detach_user_policy(UserName="busy", PolicyArn=arns[0])
    iam.attach_user_policy(UserName="busy", PolicyArn=arns[10])
    assert len(iam.list_attached_user_policies(UserName="busy")["AttachedPolicies"]) == 10


def test_attachment_quota_per_role(iam: Any) -> None:
    make_role(iam, "busy-role")
    arns = [make_policy(iam, f"r{i:02d}") for i in range(10)]
    for arn in arns:
        iam.attach_role_policy(RoleName="busy-role", PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="busy-role", PolicyArn=ADMIN)
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == "Cannot exceed quota for PoliciesPerRole: 10"


def test_list_attached_pagination(iam: Any) -> None:
    iam.create_user(UserName="pager")
    names = [f"att{i:02d}" for i in range(7)]
    for name in names:
        iam.attach_user_policy(UserName="pager", PolicyArn=make_policy(iam, name))
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"UserName": "pager", "MaxItems": 3}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_attached_user_policies(**kwargs)
        pages += 1
        seen += attached_names(page)
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
        assert "att" not in marker
    assert seen == names and pages == 3
    paginated = [
        p["PolicyName"]
        for page in iam.get_paginator("list_attached_user_policies").paginate(
            UserName="pager", PaginationConfig={"PageSize": 2}
        )
        for p in page["AttachedPolicies"]
    ]
    assert paginated == names


# --- ListEntitiesForPolicy ---------------------------------------------------------------------------------


def test_list_entities_for_policy(iam: Any) -> None:
    arn = make_policy(iam, "shared")
    for name in ("u-b", "u-a"):
        iam.create_user(UserName=name, Path="/people/")
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    iam.create_user(UserName="u-bounded", PermissionsBoundary=arn)
    iam.create_user(UserName="u-unrelated")
    iam.create_group(GroupName="g1")
    iam.attach_group_policy(GroupName="g1", PolicyArn=arn)

    result = iam.list_entities_for_policy(PolicyArn=arn)
    assert [g["GroupName"] for g in result["PolicyGroups"]] == ["g1"]
    assert [u["UserName"] for u in result["PolicyUsers"]] == ["u-a", "u-b", "u-bounded"]
    assert result["PolicyRoles"] == []
    assert result["IsTruncated"] is False
    user_ids = {u["UserName"]: u["UserId"] for u in result["PolicyUsers"]}
    assert user_ids["u-a"] == iam.get_user(UserName="u-a")["User"]["UserId"]
    assert result["PolicyGroups"][0]["GroupId"] == iam.get_group(GroupName="g1")["Group"]["GroupId"]

    users_only = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")
    assert users_only["PolicyGroups"] == [] and len(users_only["PolicyUsers"]) == 3
    groups_only = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Group")
    assert [g["GroupName"] for g in groups_only["PolicyGroups"]] == ["g1"] and groups_only["PolicyUsers"] == []
    permissions = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsPolicy")
    assert [u["UserName"] for u in permissions["PolicyUsers"]] == ["u-a", "u-b"]
    boundaries = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert [u["UserName"] for u in boundaries["PolicyUsers"]] == ["u-bounded"]
    assert boundaries["PolicyGroups"] == []
    by_path = iam.list_entities_for_policy(PolicyArn=arn, PathPrefix="/people/")
    assert [u["UserName"] for u in by_path["PolicyUsers"]] == ["u-a", "u-b"] and by_path["PolicyGroups"] == []
    nothing = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="LocalManagedPolicy")
    assert (nothing["PolicyGroups"], nothing["PolicyUsers"], nothing["PolicyRoles"]) == ([], [], [])

    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["AttachmentCount"] == 3
    assert policy["PermissionsBoundaryUsageCount"] == 1

    # pagination runs across groups, then users, then roles
    seen: list[str] = []
    marker = None
    while True:
        kwargs: dict[str, Any] = {"PolicyArn": arn, "MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_entities_for_policy(**kwargs)
        seen += [g["GroupName"] for g in page["PolicyGroups"]] + [u["UserName"] for u in page["PolicyUsers"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == ["g1", "u-a", "u-b", "u-bounded"]

    with pytest.raises(ClientError) as exc:
        iam.list_entities_for_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT_ID}:policy/none")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.list_entities_for_policy(PolicyArn=arn, Marker="garbage!")
    assert error_of(exc)[1] == 400


def test_list_entities_with_roles(iam: Any) -> None:
    make_role(iam, "r1")
    iam.attach_role_policy(RoleName="r1", PolicyArn=READ_ONLY)
    iam.create_user(UserName="u1")
    iam.attach_user_policy(UserName="u1", PolicyArn=READ_ONLY)
    result = iam.list_entities_for_policy(PolicyArn=READ_ONLY)
    assert [r["RoleName"] for r in result["PolicyRoles"]] == ["r1"]
    assert result["PolicyRoles"][0]["RoleId"].startswith("AROA")
    assert [u["UserName"] for u in result["PolicyUsers"]] == ["u1"]
    roles_only = iam.list_entities_for_policy(PolicyArn=READ_ONLY, EntityFilter="Role")
    assert roles_only["PolicyUsers"] == [] and len(roles_only["PolicyRoles"]) == 1


def test_aws_managed_attachments_are_per_account(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="mine")
    iam.attach_user_policy(UserName="mine", PolicyArn=ADMIN)
    other = second_account(iamd)
    other.create_user(UserName="theirs")
    other.attach_user_policy(UserName="theirs", PolicyArn=ADMIN)
    other.create_group(GroupName="their-group")
    other.attach_group_policy(GroupName="their-group", PolicyArn=ADMIN)
    assert [u["UserName"] for u in iam.list_entities_for_policy(PolicyArn=ADMIN)["PolicyUsers"]] == ["mine"]
    assert iam.list_entities_for_policy(PolicyArn=ADMIN)["PolicyGroups"] == []
    assert [u["UserName"] for u in other.list_entities_for_policy(PolicyArn=ADMIN)["PolicyUsers"]] == ["theirs"]
    assert iam.get_policy(PolicyArn=ADMIN)["Policy"]["AttachmentCount"] == 1
    assert other.get_policy(PolicyArn=ADMIN)["Policy"]["AttachmentCount"] == 2
    # a customer policy of one account cannot be attached in another
    mine = make_policy(iam, "not-yours")
    with pytest.raises(ClientError) as exc:
        other.attach_user_policy(UserName="theirs", PolicyArn=mine)
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.list_attached_user_policies(UserName="mine")
    assert error_of(exc) == ("NoSuchEntity", 404)


def _set_service_linked(iamd: Server, role_name: str) -> None:
    url = iamd.database_url or f"sqlite:///{(iamd.data_dir / 'iamd.db').resolve()}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE roles SET service_linked = :yes WHERE name_key = :name"),
                {"yes": True, "name": role_name.lower()},
            )
    finally:
        engine.dispose()


def test_service_linked_roles_are_protected(iamd: Server, iam: Any) -> None:
    make_role(iam, "AWSServiceRoleForTest")
    iam.attach_role_policy(RoleName="AWSServiceRoleForTest", PolicyArn=READ_ONLY)
    _set_service_linked(iamd, "AWSServiceRoleForTest")
    expected = (
        "Cannot perform the operation on the protected role 'AWSServiceRoleForTest' - "
        "this role is only modifiable by AWS"
    )
    calls: list[Callable[[], Any]] = [
        lambda: iam.attach_role_policy(RoleName="AWSServiceRoleForTest", PolicyArn=ADMIN),
        lambda: iam.detach_role_policy(RoleName="AWSServiceRoleForTest", PolicyArn=READ_ONLY),
        lambda: iam.put_role_policy(RoleName="AWSServiceRoleForTest", PolicyName="x", PolicyDocument=doc()),
        lambda: iam.delete_role_policy(RoleName="AWSServiceRoleForTest", PolicyName="x"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("UnmodifiableEntity", 400)
        assert message_of(exc) == expected
    # reading is fine
    assert attached_names(iam.list_attached_role_policies(RoleName="AWSServiceRoleForTest")) == ["IAMReadOnlyAccess"]
    assert iam.list_role_policies(RoleName="AWSServiceRoleForTest")["PolicyNames"] == []


# --- the AWS CLI ---------------------------------------------------------------------------------------------


def test_aws_cli_tour(iamd: Server) -> None:
    iamd.aws("iam", "create-user", "--user-name", "cli-user")
    iamd.aws("iam", "attach-user-policy", "--user-name", "cli-user", "--policy-arn", READ_ONLY)
    listed = iamd.aws("iam", "list-attached-user-policies", "--user-name", "cli-user")
    assert listed["AttachedPolicies"] == [{"PolicyName": "IAMReadOnlyAccess", "PolicyArn": READ_ONLY}]
    entities = iamd.aws("iam", "list-entities-for-policy", "--policy-arn", READ_ONLY)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["cli-user"]
    iamd.aws("iam", "detach-user-policy", "--user-name", "cli-user", "--policy-arn", READ_ONLY)
    assert iamd.aws("iam", "list-attached-user-policies", "--user-name", "cli-user")["AttachedPolicies"] == []
