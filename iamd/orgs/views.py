"""The domain's records as botocore's ``organizations`` model shapes them (``Organization``,
``Root``, ``OrganizationalUnit``, ``Account``, ``Handshake``, ``CreateAccountStatus``, ``Policy``,
``PolicySummary``, ``PolicyTargetSummary``, ``DelegatedAdministrator``), ready for the JSON 1.1
serializer: member names as keys, ``datetime`` timestamps, absent members left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from iamd.orgs import ids
from iamd.orgs.model import (
    CreateAccountRequest,
    DelegatedAdministrator,
    Handshake,
    Member,
    Organization,
    OrgPolicy,
    PolicyTarget,
    Root,
    Unit,
)

_STATUS_OF_STATE = {"ACTIVE": "ACTIVE", "SUSPENDED": "SUSPENDED", "PENDING_CLOSURE": "PENDING_CLOSURE"}


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _types(enabled: Sequence[str]) -> list[dict[str, str]]:
    return [{"Type": policy_type, "Status": "ENABLED"} for policy_type in enabled]


def organization_view(org: Organization, partition: str, enabled: Sequence[str]) -> dict[str, Any]:
    """``enabled``: the policy types enabled in the root (the deprecated ``AvailablePolicyTypes``)."""
    out: dict[str, Any] = {
        "Id": org.id,
        "Arn": ids.organization_arn(partition, org.management_account_id, org.id),
        "FeatureSet": org.feature_set,
        "MasterAccountArn": ids.account_arn(partition, org.management_account_id, org.id, org.management_account_id),
        "MasterAccountId": org.management_account_id,
        "AvailablePolicyTypes": _types(enabled),
    }
    if org.management_email:
        out["MasterAccountEmail"] = org.management_email
    return out


def root_view(org: Organization, root: Root, partition: str) -> dict[str, Any]:
    return {
        "Id": root.id,
        "Arn": ids.root_arn(partition, org.management_account_id, org.id, root.id),
        "Name": root.name,
        "PolicyTypes": _types(root.policy_types),
    }


def unit_view(org: Organization, unit: Unit, partition: str) -> dict[str, Any]:
    return {
        "Id": unit.id,
        "Arn": ids.unit_arn(partition, org.management_account_id, org.id, unit.id),
        "Name": unit.name,
        "Path": unit.path,
    }


def account_view(org: Organization, member: Member, partition: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": member.account_id,
        "Arn": ids.account_arn(partition, org.management_account_id, org.id, member.account_id),
        "Name": member.name,
        "Status": _STATUS_OF_STATE.get(member.state, "SUSPENDED"),
        "State": member.state,
        "Paths": [member.path],
        "JoinedMethod": member.joined_method,
        "JoinedTimestamp": _time(member.joined_at),
    }
    if member.email:
        out["Email"] = member.email
    return out


def handshake_view(org: Organization, handshake: Handshake, partition: str) -> dict[str, Any]:
    """Parties and resources as AWS's InviteAccountToOrganization example shows them: the
    organization (with the management account's email and name and the feature set), then the
    invited account or email, then the notes."""
    organization_resources = [
        {"Type": "MASTER_EMAIL", "Value": org.management_email or ""},
        {"Type": "MASTER_NAME", "Value": org.management_name},
        {"Type": "ORGANIZATION_FEATURE_SET", "Value": org.feature_set},
    ]
    resources: list[dict[str, Any]] = [
        {"Type": "ORGANIZATION", "Value": org.id, "Resources": organization_resources},
        {"Type": handshake.target_type, "Value": handshake.target_id},
    ]
    if handshake.notes:
        resources.append({"Type": "NOTES", "Value": handshake.notes})
    return {
        "Id": handshake.id,
        "Arn": ids.handshake_arn(partition, org.management_account_id, org.id, handshake.action, handshake.id),
        "Parties": [
            {"Id": org.id, "Type": "ORGANIZATION"},
            {"Id": handshake.target_id, "Type": handshake.target_type},
        ],
        "State": handshake.state,
        "RequestedTimestamp": _time(handshake.requested_at),
        "ExpirationTimestamp": _time(handshake.expires_at),
        "Action": handshake.action,
        "Resources": resources,
    }


def create_account_status_view(request: CreateAccountRequest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": request.id,
        "AccountName": request.account_name,
        "State": request.state,
        "RequestedTimestamp": _time(request.requested_at),
    }
    if request.completed_at is not None:
        out["CompletedTimestamp"] = _time(request.completed_at)
    if request.account_id is not None:
        out["AccountId"] = request.account_id
    if request.failure_reason is not None:
        out["FailureReason"] = request.failure_reason
    return out


def policy_arn(org: Organization, policy: OrgPolicy, partition: str) -> str:
    if policy.aws_managed:
        return ids.aws_managed_policy_arn(partition, policy.type, policy.id)
    return ids.policy_arn(partition, org.management_account_id, org.id, policy.type, policy.id)


def policy_summary_view(org: Organization, policy: OrgPolicy, partition: str) -> dict[str, Any]:
    return {
        "Id": policy.id,
        "Arn": policy_arn(org, policy, partition),
        "Name": policy.name,
        "Description": policy.description,
        "Type": policy.type,
        "AwsManaged": policy.aws_managed,
    }


def policy_view(org: Organization, policy: OrgPolicy, partition: str) -> dict[str, Any]:
    return {"PolicySummary": policy_summary_view(org, policy, partition), "Content": policy.content}


def target_view(org: Organization, target: PolicyTarget, partition: str) -> dict[str, Any]:
    return {
        "TargetId": target.target_id,
        "Arn": ids.node_arn(partition, org.management_account_id, org.id, target.target_id),
        "Name": target.name,
        "Type": target.type,
    }


def delegated_administrator_view(org: Organization, admin: DelegatedAdministrator, partition: str) -> dict[str, Any]:
    account = account_view(org, admin.member, partition)
    account.pop("Paths")
    account["DelegationEnabledDate"] = _time(admin.enabled_at)
    return account
