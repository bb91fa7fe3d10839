"""Every decision uses the organization's SCPs and RCPs (on both databases): a Deny SCP on an OU
stops a member account's administrator and its root user while the management account is not
limited; an RCP perimeter stops principals from outside the organization; the simulator includes
SCPs and the organization condition keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.test_organizations import allow, code_of, new_account
from tests.support.server import ACCOUNT_ID, Server


def deny(*actions: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": list(actions), "Resource": "*"}]}
    )


def keyed(iamd: Server, iam: Any, name: str, document: str, service: str = "iam") -> Any:
    """A user of the account ``iam`` acts in, with an inline policy, and a client with its key."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return iamd.client(service, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])


def member_of(iamd: Server, org: Any) -> tuple[str, dict[str, str]]:
    """An account (with a root key) invited into ``org``'s organization; its id and root key."""
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    account = creds["AccountId"]
    keys = {"access_key_id": creds["AccessKeyId"], "secret_access_key": creds["SecretAccessKey"]}
    handshake = org.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": account})["Handshake"]
    iamd.client("organizations", **keys).accept_handshake(HandshakeId=handshake["Id"])
    return account, keys


@pytest.fixture
def org(iamd: Server) -> Any:
    client = iamd.client("organizations")
    client.create_organization(FeatureSet="ALL")
    return client


def test_scp_on_an_ou_stops_a_member_administrator_not_the_management_account(iamd: Server, org: Any) -> None:
    member, keys = member_of(iamd, org)
    member_root_iam = iamd.client("iam", **keys)
    admin = keyed(iamd, member_root_iam, "admin", allow("*"))
    mgmt_admin = keyed(iamd, iamd.client("iam"), "mgmt-admin", allow("*"))
    admin.create_group(GroupName="before")  # the identity policy allows it

    root = org.list_roots()["Roots"][0]["Id"]
    unit = org.create_organizational_unit(ParentId=root, Name="restricted")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=unit)
    scp = org.create_policy(
        Name="no-groups", Description="", Type="SERVICE_CONTROL_POLICY", Content=deny("iam:CreateGroup")
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=unit)

    with pytest.raises(ClientError) as exc:
        admin.create_group(GroupName="after")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert "service control policy" in exc.value.response["Error"]["Message"]
    assert code_of(lambda: member_root_iam.create_group(GroupName="by-root")) == "AccessDenied"
    admin.create_user(UserName="still-allowed")  # FullAWSAccess still allows the rest
    assert [g["GroupName"] for g in member_root_iam.list_groups()["Groups"]] == ["before"]

    # On the root it reaches every member, never the management account.
    org.detach_policy(PolicyId=scp, TargetId=unit)
    admin.create_group(GroupName="between")
    org.attach_policy(PolicyId=scp, TargetId=root)
    assert code_of(lambda: admin.create_group(GroupName="again")) == "AccessDenied"
    mgmt_admin.create_group(GroupName="management-is-exempt")
    iamd.client("iam").create_group(GroupName="management-root-too")

    # The simulator includes the SCPs and the organization's keys.
    simulated = iamd.client("iam", **keys).simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{member}:user/admin", ActionNames=["iam:CreateGroup", "iam:CreateUser"]
    )["EvaluationResults"]
    by_action = {r["EvalActionName"]: r for r in simulated}
    assert by_action["iam:CreateGroup"]["EvalDecision"] == "explicitDeny"
    assert by_action["iam:CreateGroup"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert by_action["iam:CreateUser"]["EvalDecision"] == "allowed"
    assert by_action["iam:CreateUser"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    mgmt_sim = iamd.client("iam").simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_ID}:user/mgmt-admin", ActionNames=["iam:CreateGroup"]
    )["EvaluationResults"][0]
    assert mgmt_sim["EvalDecision"] == "allowed" and "OrganizationsDecisionDetail" not in mgmt_sim


def test_organization_condition_keys(iamd: Server, org: Any) -> None:
    organization = org.describe_organization()["Organization"]["Id"]
    member, keys = member_of(iamd, org)
    member_iam = iamd.client("iam", **keys)
    only_in_org = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:ListUsers",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:PrincipalOrgID": organization, "aws:PrincipalAccount": member},
                        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"{organization}/r-*/"]},
                    },
                }
            ],
        }
    )
    user = keyed(iamd, member_iam, "in-org", only_in_org)
    user.list_users()
    org.remove_account_from_organization(AccountId=member)
    assert code_of(lambda: user.list_users()) == "AccessDenied"


def test_member_cannot_leave_against_an_scp_nor_detach_its_scp(iamd: Server, org: Any) -> None:
    member, keys = member_of(iamd, org)
    member_org = iamd.client("organizations", **keys)
    root = org.list_roots()["Roots"][0]["Id"]
    scp = org.create_policy(
        Name="stay", Description="", Type="SERVICE_CONTROL_POLICY", Content=deny("organizations:LeaveOrganization")
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=root)

    with pytest.raises(ClientError) as exc:
        member_org.leave_organization()
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "organizations:LeaveOrganization" in exc.value.response["Error"]["Message"]
    assert code_of(lambda: member_org.detach_policy(PolicyId=scp, TargetId=member)) == "AccessDeniedException"
    assert code_of(lambda: member_org.detach_policy(PolicyId=scp, TargetId=root)) == "AccessDeniedException"
    assert member_org.describe_organization()["Organization"]["MasterAccountId"] == ACCOUNT_ID
    targets = org.list_targets_for_policy(PolicyId=scp)["Targets"]
    assert [t["TargetId"] for t in targets] == [root]


def test_rcp_perimeter_stops_outsiders_and_lets_members_through(iamd: Server, org: Any) -> None:
    organization = org.describe_organization()["Organization"]["Id"]
    member, keys = member_of(iamd, org)
    outsider_id, outsider_iam = new_account(iamd, service="iam")
    member_iam = iamd.client("iam", **keys)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{outsider_id}:root", f"arn:aws:iam::{ACCOUNT_ID}:root"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    member_iam.create_role(RoleName="shared", AssumeRolePolicyDocument=json.dumps(trust))
    role = f"arn:aws:iam::{member}:role/shared"
    outsider = keyed(iamd, outsider_iam, "visitor", allow("sts:AssumeRole"), service="sts")
    insider = keyed(iamd, iamd.client("iam"), "colleague", allow("sts:AssumeRole"), service="sts")
    outsider.assume_role(RoleArn=role, RoleSessionName="before")  # the trust policy allows it

    root = org.list_roots()["Roots"][0]["Id"]
    org.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")
    perimeter = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OrganizationOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sts:AssumeRole",
                    "Resource": "*",
                    "Condition": {
                        "StringNotEqualsIfExists": {"aws:PrincipalOrgID": organization},
                        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                    },
                }
            ],
        }
    )
    rcp = org.create_policy(Name="perimeter", Description="", Type="RESOURCE_CONTROL_POLICY", Content=perimeter)
    org.attach_policy(PolicyId=rcp["Policy"]["PolicySummary"]["Id"], TargetId=root)

    with pytest.raises(ClientError) as exc:
        outsider.assume_role(RoleArn=role, RoleSessionName="after")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert "resource control policy" in exc.value.response["Error"]["Message"]
    assert insider.assume_role(RoleArn=role, RoleSessionName="colleague")["AssumedRoleUser"]["Arn"].startswith(
        f"arn:aws:sts::{member}:assumed-role/shared/"
    )
