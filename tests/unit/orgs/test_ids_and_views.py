"""Ids, ARNs and output shapes against botocore's ``organizations`` model, and through the JSON 1.1
serializer into botocore's own parser (what boto3 and the AWS CLI will read)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from iamd.core.errors import (
    AccessDeniedException,
    AwsError,
    AWSOrganizationsNotInUseException,
    ConstraintViolationException,
    HandshakeConstraintViolationException,
    InvalidInputException,
    PolicyNotAttachedException,
    ServiceException,
)
from iamd.orgs import ids, views
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
from iamd.orgs.policy_types import AWS_MANAGED
from iamd.web.protocol.json_codec import WireResponse
from iamd.web.protocol.json_protocol import json_response_headers, serialize_json_error, serialize_json_result
from iamd.web.protocol.model import load_service
from tests.unit.protocol.botocore_wire import parse_answer, service_model

MGMT = "111122223333"
MEMBER = "222233334444"


def _pattern(shape: str) -> re.Pattern[str]:
    return re.compile(service_model("organizations").shape_for(shape).metadata["pattern"])


@pytest.mark.parametrize(
    ("shape", "make"),
    [
        ("OrganizationId", ids.new_organization_id),
        ("RootId", ids.new_root_id),
        ("OrganizationalUnitId", lambda: ids.new_unit_id(ids.new_root_id())),
        ("PolicyId", ids.new_policy_id),
        ("HandshakeId", ids.new_handshake_id),
        ("CreateAccountRequestId", ids.new_create_account_request_id),
    ],
)
def test_generated_ids_match_the_model(shape: str, make: Any) -> None:
    pattern = _pattern(shape)
    for _ in range(50):
        value = make()
        assert pattern.match(value), (shape, value)


def test_arns_match_the_model() -> None:
    org, root, pid, hid = ids.new_organization_id(), ids.new_root_id(), ids.new_policy_id(), ids.new_handshake_id()
    unit = ids.new_unit_id(root)
    cases = {
        "OrganizationArn": ids.organization_arn("aws", MGMT, org),
        "RootArn": ids.root_arn("aws", MGMT, org, root),
        "OrganizationalUnitArn": ids.unit_arn("aws", MGMT, org, unit),
        "AccountArn": ids.account_arn("aws", MGMT, org, MEMBER),
        "HandshakeArn": ids.handshake_arn("aws", MGMT, org, "INVITE", hid),
    }
    for shape, arn in cases.items():
        assert _pattern(shape).match(arn), (shape, arn)
    policy = _pattern("PolicyArn")
    customer = ids.policy_arn("aws", MGMT, org, "SERVICE_CONTROL_POLICY", pid)
    assert customer == f"arn:aws:organizations::{MGMT}:policy/{org}/service_control_policy/{pid}"
    assert policy.match(customer)
    for managed in AWS_MANAGED.values():
        arn = ids.aws_managed_policy_arn("aws", managed.type, managed.id)
        assert policy.match(arn) and _pattern("PolicyId").match(managed.id)
    assert ids.aws_managed_policy_arn("aws", "SERVICE_CONTROL_POLICY", "p-FullAWSAccess") == (
        "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"
    )
    assert ids.node_arn("aws-cn", MGMT, org, unit) == f"arn:aws-cn:organizations::{MGMT}:ou/{org}/{unit}"
    with pytest.raises(ValueError, match="not a root"):
        ids.node_arn("aws", MGMT, org, "p-x")


def test_node_kinds() -> None:
    assert ids.node_kind("r-ab12") == "ROOT"
    assert ids.node_kind("ou-ab12-abcdefgh") == "ORGANIZATIONAL_UNIT"
    assert ids.node_kind(MEMBER) == "ACCOUNT"
    assert ids.node_kind("p-abcdefghij") is None and ids.node_kind("1234") is None


# --- views through the wire --------------------------------------------------------------------------

ORG = Organization("o-abcdefghij", MGMT, "ALL", "r-ab12", "boss@example.com", "Management", 1.7e9)
UNIT = Unit("ou-ab12-abcdefgh", ORG.id, ORG.root_id, "Prod", f"{ORG.id}/{ORG.root_id}/ou-ab12-abcdefgh/", 1)
MEMBER_RECORD = Member(
    MEMBER, ORG.id, UNIT.id, "Dev", "dev@example.com", "CREATED", 1.7e9 + 5, "ACTIVE", f"{UNIT.path}{MEMBER}/"
)
HANDSHAKE = Handshake(
    "h-abcdefghij", ORG.id, "INVITE", "OPEN", "EMAIL", "dev@example.com", None, "welcome", 1.7e9, 1.7e9 + 1296000, 1.7e9
)
POLICY = OrgPolicy("p-abcdefghij", "SERVICE_CONTROL_POLICY", "NoS3", "Denies S3.", '{"Statement":[]}', False, ORG.id)
_MANAGED = AWS_MANAGED["p-FullAWSAccess"]
FULL = OrgPolicy(_MANAGED.id, _MANAGED.type, _MANAGED.name, _MANAGED.description, _MANAGED.content, True)


def _round_trip(operation: str, result: dict[str, Any]) -> dict[str, Any]:
    spec = load_service("organizations")
    answer = WireResponse(200, json_response_headers(spec, "req-1"), serialize_json_result(spec, operation, result))
    parsed = parse_answer("organizations", operation, answer)
    parsed.pop("ResponseMetadata", None)
    return parsed


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_organization_root_unit_and_account_shapes() -> None:
    organization = views.organization_view(ORG, "aws", ["SERVICE_CONTROL_POLICY"])
    assert _round_trip("DescribeOrganization", {"Organization": organization}) == {"Organization": organization}
    assert organization["MasterAccountArn"] == f"arn:aws:organizations::{MGMT}:account/{ORG.id}/{MGMT}"
    root = views.root_view(ORG, Root(ORG.root_id, ORG.id, "Root", ("SERVICE_CONTROL_POLICY",)), "aws")
    assert _round_trip("ListRoots", {"Roots": [root]})["Roots"] == [root]
    unit = views.unit_view(ORG, UNIT, "aws")
    assert _round_trip("DescribeOrganizationalUnit", {"OrganizationalUnit": unit})["OrganizationalUnit"] == unit
    assert _pattern("Path").match(unit["Path"])
    account = views.account_view(ORG, MEMBER_RECORD, "aws")
    parsed = _round_trip("DescribeAccount", {"Account": account})["Account"]
    assert parsed == {**account, "JoinedTimestamp": _when(MEMBER_RECORD.joined_at)}
    assert parsed["Paths"] == [f"{UNIT.path}{MEMBER}/"] and _pattern("Path").match(parsed["Paths"][0])


def test_handshake_and_create_account_status_shapes() -> None:
    handshake = views.handshake_view(ORG, HANDSHAKE, "aws")
    parsed = _round_trip("InviteAccountToOrganization", {"Handshake": handshake})["Handshake"]
    assert parsed["Parties"] == [{"Id": ORG.id, "Type": "ORGANIZATION"}, {"Id": "dev@example.com", "Type": "EMAIL"}]
    assert parsed["Resources"][0]["Resources"][0] == {"Type": "MASTER_EMAIL", "Value": "boss@example.com"}
    assert parsed["Resources"][-1] == {"Type": "NOTES", "Value": "welcome"}
    assert parsed["ExpirationTimestamp"] == _when(HANDSHAKE.expires_at)
    assert _pattern("HandshakeArn").match(parsed["Arn"])
    done = CreateAccountRequest(
        "car-" + "a" * 32, ORG.id, "Dev", "d@example.com", "SUCCEEDED", 1.7e9, 1.7e9 + 2, MEMBER, None
    )
    status = _round_trip("DescribeCreateAccountStatus", {"CreateAccountStatus": views.create_account_status_view(done)})
    assert status["CreateAccountStatus"]["AccountId"] == MEMBER and "FailureReason" not in status["CreateAccountStatus"]
    failed = views.create_account_status_view(
        CreateAccountRequest("car-" + "b" * 32, ORG.id, "X", "x@e.com", "FAILED", 1.7e9, 1.7e9, None, "INVALID_EMAIL")
    )
    assert failed["FailureReason"] == "INVALID_EMAIL" and "AccountId" not in failed


def test_policy_and_target_shapes() -> None:
    policy = views.policy_view(ORG, POLICY, "aws")
    assert _round_trip("DescribePolicy", {"Policy": policy}) == {"Policy": policy}
    managed = views.policy_summary_view(ORG, FULL, "aws")
    assert managed["Arn"] == "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"
    assert _round_trip("ListPolicies", {"Policies": [managed]})["Policies"] == [managed]
    target = views.target_view(ORG, PolicyTarget(UNIT.id, "ORGANIZATIONAL_UNIT", "Prod"), "aws")
    assert _round_trip("ListTargetsForPolicy", {"Targets": [target]})["Targets"] == [target]
    admin = views.delegated_administrator_view(
        ORG, DelegatedAdministrator(MEMBER_RECORD, "x.amazonaws.com", 1.8e9), "aws"
    )
    parsed = _round_trip("ListDelegatedAdministrators", {"DelegatedAdministrators": [admin]})
    assert parsed["DelegatedAdministrators"][0]["DelegationEnabledDate"] == _when(1.8e9)


# --- errors through the wire -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "operation", "fields"),
    [
        (
            ConstraintViolationException("last SCP", reason="MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"),
            "DetachPolicy",
            {"Reason": "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"},
        ),
        (
            HandshakeConstraintViolationException("member", reason="ALREADY_IN_AN_ORGANIZATION"),
            "InviteAccountToOrganization",
            {"Reason": "ALREADY_IN_AN_ORGANIZATION"},
        ),
        (InvalidInputException("managed", Reason="IMMUTABLE_POLICY"), "UpdatePolicy", {"Reason": "IMMUTABLE_POLICY"}),
        (PolicyNotAttachedException(), "DetachPolicy", {}),
        (AWSOrganizationsNotInUseException(), "DescribeOrganization", {}),
        (AccessDeniedException(), "CreateAccount", {}),
        (ServiceException(), "ListRoots", {}),
    ],
)
def test_errors_reach_botocore_with_their_code_message_and_reason(
    error: AwsError, operation: str, fields: dict[str, str]
) -> None:
    answer = serialize_json_error(error, "req-2", load_service("organizations"))
    parsed = parse_answer("organizations", operation, answer)
    assert parsed["Error"]["Code"] == error.code and parsed["Error"]["Message"] == error.message
    assert answer.status == error.status
    for key, value in fields.items():
        assert parsed[key] == value
