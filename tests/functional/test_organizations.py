"""The Organizations API (AWS JSON 1.1) with boto3's ``organizations`` client and the AWS CLI, on
both databases: the organization, created and invited accounts, OUs, policies, tags, pages, the
model's errors, and authorization by IAM policy like every other action."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ACCOUNT_ID, Server

SCP_DENY_S3 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
)
RCP_OUTSIDERS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-placeholder"}},
            }
        ],
    }
)


def allow(*actions: str, resource: str = "*", condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def code_of(call: Callable[[], Any]) -> str:
    """The error code ``call`` fails with (it must fail)."""
    with pytest.raises(ClientError) as exc:
        call()
    return error(exc)[0]


def new_account(iamd: Server, service: str = "organizations") -> tuple[str, Any]:
    """An account made with the admin CLI (it has a root key): its id and a client of its root."""
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    return creds["AccountId"], iamd.client(
        service, access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"]
    )


def user_client(iamd: Server, name: str, document: str, service: str = "organizations") -> Any:
    iam = iamd.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return iamd.client(service, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])


def session_client(iamd: Server, creds: dict[str, Any], service: str = "iam") -> Any:
    """A client for temporary credentials (an AssumeRole answer's ``Credentials``)."""
    return iamd.client(
        service,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )


def wait_for_account(org: Any, request_id: str) -> dict[str, Any]:
    """Poll DescribeCreateAccountStatus as boto3 users do (AWS answers IN_PROGRESS first)."""
    deadline = time.monotonic() + 20
    while True:
        status: dict[str, Any] = org.describe_create_account_status(CreateAccountRequestId=request_id)[
            "CreateAccountStatus"
        ]
        if status["State"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


@pytest.fixture
def org(iamd: Server) -> Any:
    return iamd.client("organizations")


@pytest.fixture
def organization(org: Any) -> dict[str, Any]:
    created: dict[str, Any] = org.create_organization(FeatureSet="ALL")["Organization"]
    return created


def root_id(org: Any) -> str:
    return str(org.list_roots()["Roots"][0]["Id"])


# --- the organization ---------------------------------------------------------------------------------


def test_create_describe_delete_organization(iamd: Server, org: Any) -> None:
    assert code_of(lambda: org.describe_organization()) == "AWSOrganizationsNotInUseException"

    created = org.create_organization(FeatureSet="ALL")["Organization"]
    assert created["Id"].startswith("o-") and created["MasterAccountId"] == ACCOUNT_ID
    assert created["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:organization/{created['Id']}"
    assert created["AvailablePolicyTypes"] == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
    assert org.describe_organization()["Organization"]["Id"] == created["Id"]
    assert code_of(lambda: org.create_organization()) == "AlreadyInOrganizationException"

    roots = org.list_roots()["Roots"]
    assert len(roots) == 1 and roots[0]["Name"] == "Root"
    assert roots[0]["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:root/{created['Id']}/{roots[0]['Id']}"
    accounts = org.list_accounts()["Accounts"]
    assert [a["Id"] for a in accounts] == [ACCOUNT_ID]

    org.delete_organization()
    assert code_of(lambda: org.describe_organization()) == "AWSOrganizationsNotInUseException"


def test_create_account_is_asynchronous_and_leaves_the_access_role(iamd: Server, org: Any, organization: Any) -> None:
    started = org.create_account(
        Email="team-a@example.com", AccountName="team-a", Tags=[{"Key": "team", "Value": "a"}]
    )["CreateAccountStatus"]
    assert started["State"] == "IN_PROGRESS" and started["Id"].startswith("car-")
    status = wait_for_account(org, started["Id"])
    assert status["State"] == "SUCCEEDED", status
    account_id = status["AccountId"]

    described = org.describe_account(AccountId=account_id)["Account"]
    assert described["Email"] == "team-a@example.com" and described["JoinedMethod"] == "CREATED"
    assert org.list_tags_for_resource(ResourceId=account_id)["Tags"] == [{"Key": "team", "Value": "a"}]
    listed = org.list_create_account_status(States=["SUCCEEDED"])["CreateAccountStatuses"]
    assert [s["Id"] for s in listed] == [started["Id"]]

    # The management account's administrators get into the new account through its role.
    admin = user_client(iamd, "admin", allow("*"), service="sts")
    creds = admin.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="ops"
    )["Credentials"]
    member_iam = session_client(iamd, creds)
    member_iam.create_user(UserName="inside")
    assert member_iam.get_user(UserName="inside")["User"]["Arn"] == f"arn:aws:iam::{account_id}:user/inside"

    again = org.create_account(Email="team-a@example.com", AccountName="dup")["CreateAccountStatus"]
    failed = wait_for_account(org, again["Id"])
    assert failed["State"] == "FAILED" and failed["FailureReason"] == "EMAIL_ALREADY_EXISTS"
    assert (
        code_of(lambda: org.describe_create_account_status(CreateAccountRequestId="car-" + "0" * 32))
        == "CreateAccountStatusNotFoundException"
    )


# --- OUs ------------------------------------------------------------------------------------------------


def test_units_children_parents_and_moves(iamd: Server, org: Any, organization: Any) -> None:
    root = root_id(org)
    prod = org.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]
    assert prod["Id"].startswith(f"ou-{root[2:]}-")
    assert prod["Path"] == f"{organization['Id']}/{root}/{prod['Id']}/"
    web = org.create_organizational_unit(ParentId=prod["Id"], Name="web")["OrganizationalUnit"]
    assert (
        code_of(lambda: org.create_organizational_unit(ParentId=root, Name="prod"))
        == "DuplicateOrganizationalUnitException"
    )
    assert (
        code_of(lambda: org.create_organizational_unit(ParentId=f"ou-{root[2:]}-zzzzzzzz", Name="x"))
        == "ParentNotFoundException"
    )

    renamed = org.update_organizational_unit(OrganizationalUnitId=web["Id"], Name="frontend")["OrganizationalUnit"]
    assert renamed["Name"] == "frontend"
    assert org.describe_organizational_unit(OrganizationalUnitId=web["Id"])["OrganizationalUnit"]["Name"] == "frontend"
    assert org.list_parents(ChildId=web["Id"])["Parents"] == [{"Id": prod["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    children = org.list_children(ParentId=root, ChildType="ORGANIZATIONAL_UNIT")["Children"]
    assert children == [{"Id": prod["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert [u["Id"] for u in org.list_organizational_units_for_parent(ParentId=prod["Id"])["OrganizationalUnits"]] == [
        web["Id"]
    ]

    org.move_account(AccountId=ACCOUNT_ID, SourceParentId=root, DestinationParentId=web["Id"])
    assert org.list_parents(ChildId=ACCOUNT_ID)["Parents"] == [{"Id": web["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert [a["Id"] for a in org.list_accounts_for_parent(ParentId=web["Id"])["Accounts"]] == [ACCOUNT_ID]
    with pytest.raises(ClientError) as exc:
        org.move_account(AccountId=ACCOUNT_ID, SourceParentId=root, DestinationParentId=prod["Id"])
    assert error(exc)[0] == "AccountNotFoundException"  # not in that source parent
    assert (
        code_of(
            lambda: org.move_account(
                AccountId=ACCOUNT_ID, SourceParentId=f"ou-{root[2:]}-zzzzzzzz", DestinationParentId=root
            )
        )
        == "SourceParentNotFoundException"
    )
    assert (
        code_of(lambda: org.delete_organizational_unit(OrganizationalUnitId=web["Id"]))
        == "OrganizationalUnitNotEmptyException"
    )
    org.move_account(AccountId=ACCOUNT_ID, SourceParentId=web["Id"], DestinationParentId=root)
    org.delete_organizational_unit(OrganizationalUnitId=web["Id"])
    assert (
        code_of(lambda: org.describe_organizational_unit(OrganizationalUnitId=web["Id"]))
        == "OrganizationalUnitNotFoundException"
    )


def test_pages_and_bad_tokens(iamd: Server, org: Any, organization: Any) -> None:
    root = root_id(org)
    made = {org.create_organizational_unit(ParentId=root, Name=f"ou-{i}")["OrganizationalUnit"]["Id"] for i in range(5)}
    first = org.list_organizational_units_for_parent(ParentId=root, MaxResults=2)
    assert len(first["OrganizationalUnits"]) == 2 and "NextToken" in first
    pages = org.get_paginator("list_organizational_units_for_parent").paginate(
        ParentId=root, PaginationConfig={"PageSize": 2}
    )
    seen = [u["Id"] for page in pages for u in page["OrganizationalUnits"]]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    children = org.get_paginator("list_children").paginate(
        ParentId=root, ChildType="ORGANIZATIONAL_UNIT", PaginationConfig={"PageSize": 3}
    )
    assert sorted(c["Id"] for page in children for c in page["Children"]) == sorted(made)

    with pytest.raises(ClientError) as exc:
        org.list_organizational_units_for_parent(ParentId=root, NextToken="not-a-token")
    assert error(exc)[0] == "InvalidInputException"
    assert exc.value.response["Reason"] == "INVALID_NEXT_TOKEN"


# --- policies -------------------------------------------------------------------------------------------


def test_policies_attach_detach_and_types(iamd: Server, org: Any, organization: Any) -> None:
    root = root_id(org)
    unit = org.create_organizational_unit(ParentId=root, Name="sandbox")["OrganizationalUnit"]["Id"]
    created = org.create_policy(
        Name="no-s3",
        Description="deny S3",
        Type="SERVICE_CONTROL_POLICY",
        Content=SCP_DENY_S3,
        Tags=[{"Key": "owner", "Value": "sec"}],
    )["Policy"]
    summary = created["PolicySummary"]
    policy_id = summary["Id"]
    assert summary["Arn"] == (
        f"arn:aws:organizations::{ACCOUNT_ID}:policy/{organization['Id']}/service_control_policy/{policy_id}"
    )
    assert summary["AwsManaged"] is False and json.loads(created["Content"]) == json.loads(SCP_DENY_S3)
    assert (
        code_of(
            lambda: org.create_policy(Name="no-s3", Description="", Type="SERVICE_CONTROL_POLICY", Content=SCP_DENY_S3)
        )
        == "DuplicatePolicyException"
    )
    assert (
        code_of(
            lambda: org.create_policy(Name="bad", Description="", Type="SERVICE_CONTROL_POLICY", Content="{not json")
        )
        == "MalformedPolicyDocumentException"
    )

    listed = org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert {p["Id"] for p in listed} == {"p-FullAWSAccess", policy_id}
    org.attach_policy(PolicyId=policy_id, TargetId=unit)
    assert code_of(lambda: org.attach_policy(PolicyId=policy_id, TargetId=unit)) == "DuplicatePolicyAttachmentException"
    on_unit = org.list_policies_for_target(TargetId=unit, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert {p["Id"] for p in on_unit} == {"p-FullAWSAccess", policy_id}
    targets = org.list_targets_for_policy(PolicyId=policy_id)["Targets"]
    assert targets == [
        {
            "TargetId": unit,
            "Arn": f"arn:aws:organizations::{ACCOUNT_ID}:ou/{organization['Id']}/{unit}",
            "Name": "sandbox",
            "Type": "ORGANIZATIONAL_UNIT",
        }
    ]
    assert code_of(lambda: org.delete_policy(PolicyId=policy_id)) == "PolicyInUseException"

    updated = org.update_policy(PolicyId=policy_id, Name="no-s3-at-all")["Policy"]["PolicySummary"]
    assert updated["Name"] == "no-s3-at-all"
    assert org.describe_policy(PolicyId=policy_id)["Policy"]["PolicySummary"]["Name"] == "no-s3-at-all"
    with pytest.raises(ClientError) as exc:
        org.update_policy(PolicyId="p-FullAWSAccess", Name="mine")
    assert error(exc)[0] == "InvalidInputException"
    assert exc.value.response["Reason"] == "IMMUTABLE_POLICY"

    org.detach_policy(PolicyId=policy_id, TargetId=unit)
    with pytest.raises(ClientError) as exc:
        org.detach_policy(PolicyId="p-FullAWSAccess", TargetId=unit)
    assert error(exc)[0] == "ConstraintViolationException"
    assert exc.value.response["Reason"] == "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"
    org.delete_policy(PolicyId=policy_id)
    assert code_of(lambda: org.describe_policy(PolicyId=policy_id)) == "PolicyNotFoundException"

    rcp = org.create_policy(Name="rcp", Description="", Type="RESOURCE_CONTROL_POLICY", Content=RCP_OUTSIDERS)
    rcp_id = rcp["Policy"]["PolicySummary"]["Id"]
    assert code_of(lambda: org.attach_policy(PolicyId=rcp_id, TargetId=unit)) == "PolicyTypeNotEnabledException"
    enabled = org.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")["Root"]
    assert {"Type": "RESOURCE_CONTROL_POLICY", "Status": "ENABLED"} in enabled["PolicyTypes"]
    assert (
        code_of(lambda: org.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY"))
        == "PolicyTypeAlreadyEnabledException"
    )
    rcps = org.list_policies_for_target(TargetId=unit, Filter="RESOURCE_CONTROL_POLICY")["Policies"]
    assert [p["Id"] for p in rcps] == ["p-RCPFullAWSAccess"]
    org.attach_policy(PolicyId=rcp_id, TargetId=unit)
    with pytest.raises(ClientError) as exc:
        org.detach_policy(PolicyId="p-RCPFullAWSAccess", TargetId=unit)
    assert exc.value.response["Reason"] == "NON_DETACHABLE_POLICY"
    disabled = org.disable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")["Root"]
    assert all(t["Type"] != "RESOURCE_CONTROL_POLICY" for t in disabled["PolicyTypes"])


def test_tags(iamd: Server, org: Any, organization: Any) -> None:
    root = root_id(org)
    org.tag_resource(ResourceId=root, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    org.untag_resource(ResourceId=root, TagKeys=["a"])
    assert org.list_tags_for_resource(ResourceId=root)["Tags"] == [{"Key": "b", "Value": "2"}]
    assert (
        code_of(lambda: org.tag_resource(ResourceId=f"ou-{root[2:]}-zzzzzzzz", Tags=[{"Key": "a", "Value": "1"}]))
        == "TargetNotFoundException"
    )


# --- invitations and membership ---------------------------------------------------------------------------


def test_invite_accept_decline_remove(iamd: Server, org: Any, organization: Any) -> None:
    member_id, member = new_account(iamd)
    other_id, other = new_account(iamd)
    assert code_of(lambda: member.describe_organization()) == "AWSOrganizationsNotInUseException"

    sent = org.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": member_id}, Notes="welcome")["Handshake"]
    assert sent["State"] == "OPEN" and sent["Action"] == "INVITE"
    received = member.list_handshakes_for_account()["Handshakes"]
    assert [h["Id"] for h in received] == [sent["Id"]]
    accepted = member.accept_handshake(HandshakeId=sent["Id"])["Handshake"]
    assert accepted["State"] == "ACCEPTED"
    assert member.describe_organization()["Organization"]["Id"] == organization["Id"]
    assert {a["Id"] for a in org.list_accounts()["Accounts"]} == {ACCOUNT_ID, member_id}

    declined = org.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": other_id})["Handshake"]
    assert other.decline_handshake(HandshakeId=declined["Id"])["Handshake"]["State"] == "DECLINED"
    with pytest.raises(ClientError) as exc:
        other.accept_handshake(HandshakeId=declined["Id"])
    assert error(exc)[0] in ("InvalidHandshakeTransitionException", "HandshakeAlreadyInStateException")

    # A member cannot do what only the management account may.
    assert code_of(lambda: member.list_accounts()) == "AccessDeniedException"
    assert code_of(lambda: member.remove_account_from_organization(AccountId=member_id)) == "AccessDeniedException"
    assert code_of(lambda: org.remove_account_from_organization(AccountId=ACCOUNT_ID)) == "ConstraintViolationException"

    org.remove_account_from_organization(AccountId=member_id)
    assert code_of(lambda: member.describe_organization()) == "AWSOrganizationsNotInUseException"
    assert code_of(lambda: org.describe_account(AccountId=member_id)) == "AccountNotFoundException"


# --- authorization by IAM policy -----------------------------------------------------------------------------


def test_calls_are_authorized_by_identity_policies(iamd: Server, org: Any, organization: Any) -> None:
    root = root_id(org)
    nobody = user_client(iamd, "nobody", allow("iam:GetUser"))
    with pytest.raises(ClientError) as exc:
        nobody.describe_organization()
    code, message = error(exc)
    assert code == "AccessDeniedException"
    assert "organizations:DescribeOrganization" in message

    reader = user_client(iamd, "reader", allow("organizations:Describe*", "organizations:List*"))
    assert reader.describe_organization()["Organization"]["Id"] == organization["Id"]
    assert code_of(lambda: reader.create_organizational_unit(ParentId=root, Name="x")) == "AccessDeniedException"

    # Resource ARNs: this user may create OUs under the root only, and only SCPs.
    root_arn = f"arn:aws:organizations::{ACCOUNT_ID}:root/{organization['Id']}/{root}"
    scoped = user_client(
        iamd,
        "scoped",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "organizations:CreateOrganizationalUnit", "Resource": root_arn},
                    {
                        "Effect": "Allow",
                        "Action": "organizations:CreatePolicy",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"organizations:PolicyType": "SERVICE_CONTROL_POLICY"}},
                    },
                ],
            }
        ),
    )
    unit = scoped.create_organizational_unit(ParentId=root, Name="top")["OrganizationalUnit"]["Id"]
    assert code_of(lambda: scoped.create_organizational_unit(ParentId=unit, Name="nested")) == "AccessDeniedException"
    scoped.create_policy(Name="s", Description="", Type="SERVICE_CONTROL_POLICY", Content=SCP_DENY_S3)
    assert (
        code_of(lambda: scoped.create_policy(Name="t", Description="", Type="TAG_POLICY", Content="{}"))
        == "AccessDeniedException"
    )
    with pytest.raises(ClientError) as exc:  # tags need organizations:TagResource too
        scoped.create_organizational_unit(ParentId=root, Name="tagged", Tags=[{"Key": "k", "Value": "v"}])
    assert "organizations:TagResource" in error(exc)[1]


def test_json_protocol_errors(iamd: Server, org: Any) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        iamd.url + "/",
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSOrganizationsV20161128.DescribeOrganization",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    body = json.loads(exc.value.read())
    assert body["__type"] == "MissingAuthenticationTokenException"
    assert exc.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"

    bad_key = iamd.client("organizations", access_key_id="AKIAIOSFODNN7NOTREAL", secret_access_key="x" * 40)
    with pytest.raises(ClientError) as err:
        bad_key.describe_organization()
    assert error(err)[0] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as err:
        org.describe_account(AccountId="12")
    assert error(err)[0] == "InvalidInputException"
    assert err.value.response["Reason"] == "INVALID_PATTERN"


def test_aws_cli(iamd: Server) -> None:
    created = iamd.aws("organizations", "create-organization", "--feature-set", "ALL")["Organization"]
    root = iamd.aws("organizations", "list-roots")["Roots"][0]["Id"]
    unit = iamd.aws("organizations", "create-organizational-unit", "--parent-id", root, "--name", "cli")
    unit_id = unit["OrganizationalUnit"]["Id"]
    policy = iamd.aws(
        "organizations",
        "create-policy",
        "--name",
        "cli-scp",
        "--description",
        "from the CLI",
        "--type",
        "SERVICE_CONTROL_POLICY",
        "--content",
        SCP_DENY_S3,
    )["Policy"]["PolicySummary"]["Id"]
    assert iamd.aws("organizations", "attach-policy", "--policy-id", policy, "--target-id", unit_id) is None
    listed = iamd.aws(
        "organizations", "list-policies-for-target", "--target-id", unit_id, "--filter", "SERVICE_CONTROL_POLICY"
    )["Policies"]
    assert {p["Id"] for p in listed} == {"p-FullAWSAccess", policy}
    children = iamd.aws("organizations", "list-children", "--parent-id", root, "--child-type", "ORGANIZATIONAL_UNIT")
    assert children["Children"] == [{"Id": unit_id, "Type": "ORGANIZATIONAL_UNIT"}]
    assert iamd.aws("organizations", "describe-organization")["Organization"]["Id"] == created["Id"]


def test_bad_input_changes_nothing(iamd: Server, org: Any, organization: Any) -> None:
    root = root_id(org)
    before = org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    padded = SCP_DENY_S3[:-1] + " " * (5121 - len(SCP_DENY_S3)) + "}"
    with pytest.raises(ClientError) as exc:
        org.create_policy(Name="big", Description="", Type="SERVICE_CONTROL_POLICY", Content=padded)
    assert error(exc)[0] == "ConstraintViolationException"
    assert exc.value.response["Reason"] == "POLICY_CONTENT_LIMIT_EXCEEDED"
    malformed = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}
    )
    bad = lambda: org.create_policy(Name="bad", Description="", Type="SERVICE_CONTROL_POLICY", Content=malformed)  # noqa: E731
    assert code_of(bad) == "MalformedPolicyDocumentException"
    assert org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"] == before

    # An OU of another organization is not a destination this organization knows.
    _, other_root = new_account(iamd)
    other_root.create_organization(FeatureSet="ALL")
    foreign_root = other_root.list_roots()["Roots"][0]["Id"]
    foreign_unit = other_root.create_organizational_unit(ParentId=foreign_root, Name="theirs")["OrganizationalUnit"]
    move = lambda: org.move_account(AccountId=ACCOUNT_ID, SourceParentId=root, DestinationParentId=foreign_unit["Id"])  # noqa: E731
    assert code_of(move) == "DestinationParentNotFoundException"
    assert org.list_parents(ChildId=ACCOUNT_ID)["Parents"] == [{"Id": root, "Type": "ROOT"}]
    assert code_of(lambda: org.describe_organizational_unit(OrganizationalUnitId=foreign_unit["Id"])) == (
        "OrganizationalUnitNotFoundException"
    )
