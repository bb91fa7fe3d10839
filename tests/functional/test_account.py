"""Account alias and account summary through boto3 and the AWS CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from iamd.core.quotas import QuotaSettings
from tests.functional.test_server_certificates import error_of, second_account, unvalidated_client, upload
from tests.support.server import Server

DEFAULT_QUOTAS = QuotaSettings()

SUMMARY_KEYS = {
    "Users",
    "UsersQuota",
    "Groups",
    "GroupsQuota",
    "Roles",
    "RolesQuota",
    "Policies",
    "PoliciesQuota",
    "InstanceProfiles",
    "InstanceProfilesQuota",
    "ServerCertificates",
    "ServerCertificatesQuota",
    "Providers",
    "MFADevices",
    "MFADevicesInUse",
    "AccountMFAEnabled",
    "AccountAccessKeysPresent",
    "AccountPasswordPresent",
    "AccountSigningCertificatesPresent",
    "AttachedPoliciesPerUserQuota",
    "AttachedPoliciesPerGroupQuota",
    "AttachedPoliciesPerRoleQuota",
    "GroupsPerUserQuota",
    "SigningCertificatesPerUserQuota",
    "AccessKeysPerUserQuota",
    "UserPolicySizeQuota",
    "GroupPolicySizeQuota",
    "RolePolicySizeQuota",
    "PolicySizeQuota",
    "AssumeRolePolicySizeQuota",
    "PolicyVersionsInUse",
    "PolicyVersionsInUseQuota",
    "VersionsPerPolicyQuota",
    "GlobalEndpointTokenVersion",
}


# --- account alias -----------------------------------------------------------------------------------


def test_alias_create_list_delete(iam: Any) -> None:
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="example-corp")
    listed = iam.list_account_aliases()
    assert listed["AccountAliases"] == ["example-corp"]
    assert listed["IsTruncated"] is False
    page = iam.list_account_aliases(MaxItems=1)
    assert page["AccountAliases"] == ["example-corp"] and page["IsTruncated"] is False
    iam.delete_account_alias(AccountAlias="example-corp")
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_alias_delete_missing(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.delete_account_alias(AccountAlias="nothing-here")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "The account alias nothing-here cannot be found."
    iam.create_account_alias(AccountAlias="first-alias")
    with pytest.raises(ClientError) as exc:
        iam.delete_account_alias(AccountAlias="other-alias")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert iam.list_account_aliases()["AccountAliases"] == ["first-alias"]


def test_alias_one_per_account_new_one_replaces(iam: Any) -> None:
    """AWS: an account has one alias; creating a new alias overwrites the previous one."""
    iam.create_account_alias(AccountAlias="old-name")
    iam.create_account_alias(AccountAlias="new-name")
    assert iam.list_account_aliases()["AccountAliases"] == ["new-name"]
    with pytest.raises(ClientError) as exc:
        iam.delete_account_alias(AccountAlias="old-name")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.create_account_alias(AccountAlias="new-name")
    assert error_of(exc) == ("EntityAlreadyExists", 409)


def test_alias_unique_across_accounts(iamd: Server, iam: Any) -> None:
    iam.create_account_alias(AccountAlias="shared-name")
    other = second_account(iamd)
    with pytest.raises(ClientError) as exc:
        other.create_account_alias(AccountAlias="shared-name")
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    assert exc.value.response["Error"]["Message"] == "The account alias shared-name already exists."
    assert other.list_account_aliases()["AccountAliases"] == []
    # Another account cannot delete it either.
    with pytest.raises(ClientError) as exc:
        other.delete_account_alias(AccountAlias="shared-name")
    assert error_of(exc) == ("NoSuchEntity", 404)
    # Once released, the alias is free for anyone.
    iam.delete_account_alias(AccountAlias="shared-name")
    other.create_account_alias(AccountAlias="shared-name")
    assert other.list_account_aliases()["AccountAliases"] == ["shared-name"]


def test_alias_validation(iamd: Server, iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_account_alias(AccountAlias="123456789012")
    assert error_of(exc) == ("InvalidInput", 400)
    iam.create_account_alias(AccountAlias="1234567890123")  # not an account id
    raw = unvalidated_client(iamd)
    for bad in ("Upper-Case", "-dash-first", "dash-last-", "two--dashes", "ab", "x" * 64, "under_score"):
        with pytest.raises(ClientError) as exc:
            raw.create_account_alias(AccountAlias=bad)
        assert error_of(exc) == ("ValidationError", 400), bad


# --- account summary ---------------------------------------------------------------------------------


def test_summary_of_an_empty_account(iam: Any) -> None:
    summary = iam.get_account_summary()["SummaryMap"]
    assert set(summary) == SUMMARY_KEYS
    assert summary["Users"] == 0
    assert summary["Groups"] == 0
    assert summary["Roles"] == 0
    assert summary["Policies"] == 0
    assert summary["InstanceProfiles"] == 0
    assert summary["ServerCertificates"] == 0
    assert summary["MFADevices"] == 0
    assert summary["MFADevicesInUse"] == 0
    assert summary["AccountMFAEnabled"] == 0
    assert summary["AccountAccessKeysPresent"] == 1  # the test root has an access key
    assert summary["AccountSigningCertificatesPresent"] == 0
    assert summary["PolicyVersionsInUse"] == 0
    assert summary["UsersQuota"] == DEFAULT_QUOTAS.users
    assert summary["GroupsQuota"] == DEFAULT_QUOTAS.groups
    assert summary["RolesQuota"] == DEFAULT_QUOTAS.roles
    assert summary["PoliciesQuota"] == DEFAULT_QUOTAS.managed_policies
    assert summary["InstanceProfilesQuota"] == DEFAULT_QUOTAS.instance_profiles
    assert summary["ServerCertificatesQuota"] == DEFAULT_QUOTAS.server_certificates
    assert summary["GroupsPerUserQuota"] == DEFAULT_QUOTAS.groups_per_user
    assert summary["AccessKeysPerUserQuota"] == DEFAULT_QUOTAS.access_keys_per_user
    assert summary["SigningCertificatesPerUserQuota"] == DEFAULT_QUOTAS.signing_certificates_per_user
    assert summary["VersionsPerPolicyQuota"] == DEFAULT_QUOTAS.policy_versions
    assert summary["AttachedPoliciesPerUserQuota"] == DEFAULT_QUOTAS.attached_policies
    assert summary["AttachedPoliciesPerGroupQuota"] == DEFAULT_QUOTAS.attached_policies
    assert summary["AttachedPoliciesPerRoleQuota"] == DEFAULT_QUOTAS.attached_policies
    assert summary["UserPolicySizeQuota"] == 2048
    assert summary["GroupPolicySizeQuota"] == 5120
    assert summary["RolePolicySizeQuota"] == 10240
    assert summary["PolicySizeQuota"] == 6144
    assert summary["AssumeRolePolicySizeQuota"] == 2048
    assert summary["PolicyVersionsInUseQuota"] == 10000
    assert summary["GlobalEndpointTokenVersion"] == 1


def test_summary_counts(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="u1")
    iam.create_user(UserName="u2")
    iam.create_group(GroupName="g1")
    upload(iam, "cert")
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] == 2
    assert summary["Groups"] == 1
    assert summary["ServerCertificates"] == 1
    # Another account sees its own numbers only.
    other = second_account(iamd)
    theirs = other.get_account_summary()["SummaryMap"]
    assert theirs["Users"] == 0
    assert theirs["Groups"] == 0
    assert theirs["ServerCertificates"] == 0
    assert theirs["AccountAccessKeysPresent"] == 1


def test_summary_counts_roles_policies_and_attachments(iam: Any) -> None:
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    )
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=trust)
    arn = iam.create_policy(PolicyName="p1", PolicyDocument=doc)["Policy"]["Arn"]
    iam.create_instance_profile(InstanceProfileName="ip1")
    iam.create_user(UserName="u1")
    iam.attach_user_policy(UserName="u1", PolicyArn=arn)
    iam.attach_role_policy(RoleName="r1", PolicyArn=arn)
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Roles"] == 1
    assert summary["Policies"] == 1
    assert summary["InstanceProfiles"] == 1
    assert summary["PolicyVersionsInUse"] == 2


def test_aws_cli(iamd: Server) -> None:
    iamd.aws("iam", "create-account-alias", "--account-alias", "cli-alias")
    assert iamd.aws("iam", "list-account-aliases")["AccountAliases"] == ["cli-alias"]
    summary = iamd.aws("iam", "get-account-summary")["SummaryMap"]
    assert summary["UsersQuota"] == DEFAULT_QUOTAS.users
    iamd.aws("iam", "delete-account-alias", "--account-alias", "cli-alias")
    assert iamd.aws("iam", "list-account-aliases")["AccountAliases"] == []
