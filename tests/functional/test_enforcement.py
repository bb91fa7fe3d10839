"""Every IAM request is authorized by the policy engine with the caller's real policies."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server


def user_with_key(iamd: Server, name: str) -> tuple[Any, dict[str, str]]:
    iam = iamd.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"]), key


def denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(exc.value.response["Error"]["Message"])


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_no_policy_means_implicit_deny_with_aws_message(iamd: Server) -> None:
    user_iam, _ = user_with_key(iamd, "nobody")
    message = denied(user_iam.create_user, UserName="x")
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT_ID}:user/nobody is not authorized to perform: iam:CreateUser on resource: "
        f"arn:aws:iam::{ACCOUNT_ID}:user/x because no identity-based policy allows the iam:CreateUser action"
    )


def test_aws_managed_read_only_policy(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "reader")
    iam.attach_user_policy(UserName="reader", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert [u["UserName"] for u in user_iam.list_users()["Users"]] == ["reader"]
    denied(user_iam.create_user, UserName="x")


def test_inline_policy_with_resource_and_variable(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "self-service")
    iam.put_user_policy(
        UserName="self-service",
        PolicyName="own-keys",
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": ["iam:ListAccessKeys", "iam:GetUser", "iam:TagUser"],
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ),
    )
    assert len(user_iam.list_access_keys()["AccessKeyMetadata"]) == 1
    assert user_iam.get_user()["User"]["UserName"] == "self-service"
    iam.create_user(UserName="other")
    denied(user_iam.get_user, UserName="other")
    denied(user_iam.list_access_keys, UserName="other")


def test_group_policy_applies_and_explicit_deny_wins(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "member")
    iam.create_group(GroupName="admins")
    iam.add_user_to_group(GroupName="admins", UserName="member")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    user_iam.create_user(UserName="made-by-member")
    iam.put_user_policy(
        UserName="member",
        PolicyName="no-deletes",
        PolicyDocument=doc({"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"}),
    )
    message = denied(user_iam.delete_user, UserName="made-by-member")
    assert "with an explicit deny in an identity-based policy" in message
    user_iam.create_group(GroupName="still-allowed")


def test_permissions_boundary_limits(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "bounded")
    iam.attach_user_policy(UserName="bounded", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    iam.put_user_permissions_boundary(
        UserName="bounded", PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    )
    user_iam.list_users()
    message = denied(user_iam.create_user, UserName="x")
    assert "because no permissions boundary allows the iam:CreateUser action" in message


def test_conditions_on_resource_tags_and_request_tags(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "tagger")
    iam.put_user_policy(
        UserName="tagger",
        PolicyName="team-only",
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": "iam:TagUser",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/team": "blue"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["env"]},
                },
            }
        ),
    )
    iam.create_user(UserName="blue-user", Tags=[{"Key": "team", "Value": "blue"}])
    iam.create_user(UserName="red-user", Tags=[{"Key": "team", "Value": "red"}])
    user_iam.tag_user(UserName="blue-user", Tags=[{"Key": "env", "Value": "prod"}])
    denied(user_iam.tag_user, UserName="red-user", Tags=[{"Key": "env", "Value": "prod"}])
    denied(user_iam.tag_user, UserName="blue-user", Tags=[{"Key": "owner", "Value": "me"}])


def test_policy_changes_take_effect_immediately_on_this_node(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "changing")
    denied(user_iam.list_users)
    iam.attach_user_policy(UserName="changing", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    user_iam.list_users()
    iam.detach_user_policy(UserName="changing", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    denied(user_iam.list_users)


def test_source_ip_condition(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "ip")
    iam.put_user_policy(
        UserName="ip",
        PolicyName="loopback",
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
            },
            {
                "Effect": "Allow",
                "Action": "iam:ListGroups",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            },
        ),
    )
    user_iam.list_users()
    denied(user_iam.list_groups)


def test_change_password_allowed_by_account_policy(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "pw")
    iam.create_login_profile(UserName="pw", Password="Correct-Horse-9")
    denied(user_iam.change_password, OldPassword="Correct-Horse-9", NewPassword="Battery-Staple-10")
    iam.update_account_password_policy(AllowUsersToChangePassword=True, MinimumPasswordLength=8)
    time.sleep(0)  # same node: the write cleared the caches
    user_iam.change_password(OldPassword="Correct-Horse-9", NewPassword="Battery-Staple-10")


def test_service_linked_role_actions_are_checked_against_the_role(iamd: Server) -> None:
    """AWS documents resource type ``role`` for CreateServiceLinkedRole and its deletion status."""
    iam = iamd.client("iam")
    user_iam, _ = user_with_key(iamd, "slr-maker")
    service = "elasticbeanstalk.amazonaws.com"
    iam.put_user_policy(
        UserName="slr-maker",
        PolicyName="beanstalk-only",
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole"],
                "Resource": f"arn:aws:iam::*:role/aws-service-role/{service}/*",
            },
            {
                "Effect": "Allow",
                "Action": "iam:GetServiceLinkedRoleDeletionStatus",
                "Resource": f"arn:aws:iam::*:role/aws-service-role/{service}/*",
            },
        ),
    )
    role = user_iam.create_service_linked_role(AWSServiceName=service)["Role"]
    assert role["Arn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{service}/")
    message = denied(user_iam.create_service_linked_role, AWSServiceName="autoscaling.amazonaws.com")
    assert ":role/aws-service-role/autoscaling.amazonaws.com/" in message
    task = user_iam.delete_service_linked_role(RoleName=role["RoleName"])["DeletionTaskId"]
    status = user_iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "SUCCEEDED"


def test_get_access_key_last_used_is_checked_against_the_owner(iamd: Server) -> None:
    iam = iamd.client("iam")
    user_iam, own_key = user_with_key(iamd, "key-reader")
    iam.put_user_policy(
        UserName="key-reader",
        PolicyName="own-key-usage",
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": "iam:GetAccessKeyLastUsed",
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ),
    )
    assert user_iam.get_access_key_last_used(AccessKeyId=own_key["AccessKeyId"])["UserName"] == "key-reader"
    iam.create_user(UserName="someone-else")
    other = iam.create_access_key(UserName="someone-else")["AccessKey"]
    message = denied(user_iam.get_access_key_last_used, AccessKeyId=other["AccessKeyId"])
    assert message.split("on resource: ")[1].startswith(f"arn:aws:iam::{ACCOUNT_ID}:user/someone-else")
