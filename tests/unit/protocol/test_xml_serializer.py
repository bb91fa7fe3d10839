"""serialize_result / serialize_error against botocore's query response parser."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.parsers import create_parser
from botocore.session import get_session

from iamd.core.errors import (
    AwsError,
    EntityAlreadyExists,
    InternalFailure,
    NoSuchEntity,
    RequestEntityTooLarge,
    ValidationError,
)
from iamd.web.protocol.model import load_service
from iamd.web.protocol.xml_serializer import escape_text, format_timestamp, serialize_error, serialize_result

_SESSION = get_session()
IAM = load_service("iam")
STS = load_service("sts")
NS = "https://iam.amazonaws.com/doc/2010-05-08/"
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def botocore_parse(service: str, operation: str, xml: bytes, status: int = 200) -> dict[str, Any]:
    model = _SESSION.get_service_model(service).operation_model(operation)
    parsed: dict[str, Any] = create_parser("query").parse(
        {"body": xml, "headers": {}, "status_code": status}, model.output_shape
    )
    return parsed


def test_create_user_exact_xml() -> None:
    user = {
        "Path": "/",
        "UserName": "bob",
        "UserId": "AIDAEXAMPLE",
        "Arn": "arn:aws:iam::123456789012:user/bob",
        "CreateDate": WHEN,
    }
    xml = serialize_result(IAM, "CreateUser", {"User": user}, "rid-1")
    assert (
        xml
        == (
            f'<CreateUserResponse xmlns="{NS}"><CreateUserResult><User>'
            "<Path>/</Path><UserName>bob</UserName><UserId>AIDAEXAMPLE</UserId>"
            "<Arn>arn:aws:iam::123456789012:user/bob</Arn><CreateDate>2024-01-02T03:04:05Z</CreateDate>"
            "</User></CreateUserResult><ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>"
            "</CreateUserResponse>"
        ).encode()
    )
    parsed = botocore_parse("iam", "CreateUser", xml)
    assert parsed["User"] == user
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-1"


def test_members_written_in_model_order() -> None:
    user = {"CreateDate": WHEN, "Arn": "arn:aws:iam::1:user/b", "UserId": "AIDA1", "UserName": "b", "Path": "/"}
    xml = serialize_result(IAM, "GetUser", {"User": user}, "r").decode()
    positions = [xml.index(f"<{name}>") for name in ("Path", "UserName", "UserId", "Arn", "CreateDate")]
    assert positions == sorted(positions)


def test_operation_without_output() -> None:
    xml = serialize_result(IAM, "DeleteUser", None, "rid-2")
    assert (
        xml
        == (
            f'<DeleteUserResponse xmlns="{NS}"><ResponseMetadata><RequestId>rid-2</RequestId>'
            "</ResponseMetadata></DeleteUserResponse>"
        ).encode()
    )
    assert serialize_result(IAM, "DeleteUser", {}, "rid-2") == xml
    parsed = botocore_parse("iam", "DeleteUser", xml)
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-2"
    with pytest.raises(TypeError, match="no output"):
        serialize_result(IAM, "DeleteUser", {"User": {}}, "r")


def test_output_operation_with_no_result() -> None:
    xml = serialize_result(IAM, "ListUsers", None, "r")
    assert b"<ListUsersResult></ListUsersResult>" in xml
    parsed = botocore_parse("iam", "ListUsers", xml)
    parsed.pop("ResponseMetadata")
    assert parsed == {}


def test_lists_empty_lists_and_booleans() -> None:
    xml = serialize_result(IAM, "ListUsers", {"Users": [], "IsTruncated": False}, "r")
    assert b"<Users/><IsTruncated>false</IsTruncated>" in xml
    parsed = botocore_parse("iam", "ListUsers", xml)
    assert parsed["Users"] == [] and parsed["IsTruncated"] is False
    users = [
        {"Path": "/", "UserName": f"u{i}", "UserId": f"AIDA{i}", "Arn": f"arn:aws:iam::1:user/u{i}", "CreateDate": WHEN}
        for i in range(3)
    ]
    xml = serialize_result(IAM, "ListUsers", {"Users": users, "IsTruncated": True, "Marker": "next"}, "r")
    assert b"<Users><member><Path>/</Path>" in xml
    parsed = botocore_parse("iam", "ListUsers", xml)
    assert parsed["Users"] == users and parsed["IsTruncated"] is True and parsed["Marker"] == "next"
    # Tuples and other iterables are lists too.
    xml = serialize_result(IAM, "ListUsers", {"Users": tuple(users), "IsTruncated": False}, "r")
    assert botocore_parse("iam", "ListUsers", xml)["Users"] == users


def test_none_members_are_omitted() -> None:
    xml = serialize_result(IAM, "ListUsers", {"Users": [], "IsTruncated": False, "Marker": None}, "r")
    assert b"Marker" not in xml


def test_maps_and_integers() -> None:
    summary = {"Users": 3, "UsersQuota": 5000, "AccountMFAEnabled": 0}
    xml = serialize_result(IAM, "GetAccountSummary", {"SummaryMap": summary}, "r")
    assert b"<SummaryMap><entry><key>Users</key><value>3</value></entry>" in xml
    assert botocore_parse("iam", "GetAccountSummary", xml)["SummaryMap"] == summary
    xml = serialize_result(IAM, "GetAccountSummary", {"SummaryMap": {}}, "r")
    assert b"<SummaryMap/>" in xml
    assert botocore_parse("iam", "GetAccountSummary", xml)["SummaryMap"] == {}


def test_blobs() -> None:
    content = b"user,arn\n<root>,&x\x00\xff"
    result = {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": WHEN}
    xml = serialize_result(IAM, "GetCredentialReport", result, "r")
    assert botocore_parse("iam", "GetCredentialReport", xml) | {"ResponseMetadata": None} == result | {
        "ResponseMetadata": None
    }
    text_xml = serialize_result(IAM, "GetCredentialReport", {"Content": "é,x"}, "r")
    assert botocore_parse("iam", "GetCredentialReport", text_xml)["Content"] == "é,x".encode()


def test_timestamps() -> None:
    assert format_timestamp(WHEN) == "2024-01-02T03:04:05Z"
    assert format_timestamp(WHEN.replace(microsecond=999999)) == "2024-01-02T03:04:05Z"
    assert format_timestamp(WHEN.astimezone(timezone(timedelta(hours=-5)))) == "2024-01-02T03:04:05Z"
    assert format_timestamp(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"  # naive: UTC
    assert format_timestamp(WHEN.timestamp()) == "2024-01-02T03:04:05Z"
    assert format_timestamp(WHEN.timestamp() + 0.75) == "2024-01-02T03:04:05Z"
    assert format_timestamp(int(WHEN.timestamp())) == "2024-01-02T03:04:05Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00Z"
    with pytest.raises(TypeError):
        format_timestamp("2024-01-02T03:04:05Z")
    credentials = {
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "secret",
        "SessionToken": "token",
        "Expiration": WHEN.timestamp() + 3600.5,
    }
    xml = serialize_result(STS, "GetSessionToken", {"Credentials": credentials}, "r")
    assert b"<Expiration>2024-01-02T04:04:05Z</Expiration>" in xml
    assert b'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"' in xml
    parsed = botocore_parse("sts", "GetSessionToken", xml)["Credentials"]
    assert parsed["Expiration"] == WHEN + timedelta(hours=1)


def test_policy_documents_are_percent_encoded() -> None:
    doc = (
        '{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}'
    )
    xml = serialize_result(IAM, "GetRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": doc}, "r")
    assert (
        b"<PolicyDocument>%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20"
        b"%22Allow%22%2C%20%22Action%22%3A%20%22s3%3A%2A%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3As3%3A%3A%3Ab%2F%2A"
        b"%22%7D%5D%7D</PolicyDocument>"
    ) in xml
    # Not for other strings.
    assert b"<RoleName>r</RoleName>" in xml


def test_escaping_round_trips_through_xml_parsers() -> None:
    nasty = "a<b>&c\"d'e\tf\ng\rh]]>i\u00e9\u65e5\U0001f600\x7f\x85"
    role = {
        "Path": "/",
        "RoleName": "r",
        "RoleId": "AROA1",
        "Arn": "arn:aws:iam::1:role/r",
        "CreateDate": WHEN,
        "Description": nasty,
    }
    xml = serialize_result(IAM, "GetRole", {"Role": role}, "r")
    ET.fromstring(xml)  # well-formed
    assert botocore_parse("iam", "GetRole", xml)["Role"]["Description"] == nasty


def test_characters_xml_cannot_carry_are_replaced() -> None:
    assert escape_text("plain") == "plain"
    assert escape_text("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert escape_text("\r\n\t") == "&#13;\n\t"
    assert escape_text("a\x00b\x01c\x08\x0b\x0c\x1f\ufffe\uffff\ud800") == "a\ufffdb\ufffdc" + "\ufffd" * 7
    assert escape_text("\"'") == "\"'"
    role = {
        "Path": "/",
        "RoleName": "r",
        "RoleId": "AROA1",
        "Arn": "arn:aws:iam::1:role/r",
        "CreateDate": WHEN,
        "Description": "x\x00y\x1b",
    }
    xml = serialize_result(IAM, "GetRole", {"Role": role}, "r")
    assert botocore_parse("iam", "GetRole", xml)["Role"]["Description"] == "x\ufffdy\ufffd"


def test_request_id_is_escaped() -> None:
    xml = serialize_result(IAM, "DeleteUser", None, "<&>")
    assert botocore_parse("iam", "DeleteUser", xml)["ResponseMetadata"]["RequestId"] == "<&>"


# --- handler bugs -------------------------------------------------------------------------------


def test_unknown_result_key_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"unknown member 'Usr'"):
        serialize_result(IAM, "CreateUser", {"Usr": {}}, "r")
    with pytest.raises(TypeError, match=r"result User: unknown member 'Name' for User"):
        serialize_result(IAM, "CreateUser", {"User": {"Name": "x"}}, "r")


@pytest.mark.parametrize(
    ("result", "where"),
    [
        ({"User": {"UserName": 5}}, "User.UserName"),
        ({"User": {"Tags": [{"Key": 1, "Value": "v"}]}}, r"User.Tags\[0\].Key"),
        ({"User": {"Tags": [{"Key": "k", "Value": "v"}, None]}}, r"User.Tags"),
        ({"User": {"Tags": "k=v"}}, "User.Tags"),
        ({"User": {"Tags": {"k": "v"}}}, "User.Tags"),
        ({"User": {"CreateDate": "2024-01-01"}}, "User.CreateDate"),
        ({"User": "bob"}, "User"),
    ],
)
def test_wrong_value_types_name_the_member(result: dict[str, Any], where: str) -> None:
    with pytest.raises(TypeError, match=rf"iam:CreateUser result {where}: "):
        serialize_result(IAM, "CreateUser", result, "r")


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        ("ListUsers", {"IsTruncated": "false"}),
        ("ListUsers", {"IsTruncated": 0}),
        ("GetAccountSummary", {"SummaryMap": {"Users": "3"}}),
        ("GetAccountSummary", {"SummaryMap": {"Users": True}}),
        ("GetAccountSummary", {"SummaryMap": {"Users": 1.0}}),
        ("GetCredentialReport", {"Content": 5}),
    ],
)
def test_wrong_scalar_types(operation: str, result: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        serialize_result(IAM, operation, result, "r")


def test_unknown_operation() -> None:
    with pytest.raises(ValueError):
        serialize_result(IAM, "Nope", None, "r")


# --- errors ---------------------------------------------------------------------------------------


def test_error_exact_xml() -> None:
    err = NoSuchEntity("The user with name bob cannot be found.")
    xml = serialize_error(err, "rid-9", xml_namespace=NS)
    assert (
        xml
        == (
            f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>'
            "<Message>The user with name bob cannot be found.</Message></Error>"
            "<RequestId>rid-9</RequestId></ErrorResponse>"
        ).encode()
    )
    assert serialize_error(err, "rid-9") == xml.replace(f' xmlns="{NS}"'.encode(), b"")


@pytest.mark.parametrize(
    "err",
    [
        NoSuchEntity("The user with name <b>&'x\" cannot be found."),
        EntityAlreadyExists("User with name bob already exists."),
        ValidationError("1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: x"),
        InternalFailure(),
        RequestEntityTooLarge(),
        AwsError("weird\x00message\r\n"),
    ],
)
@pytest.mark.parametrize("namespace", [None, NS])
def test_errors_parse_in_botocore(err: AwsError, namespace: str | None) -> None:
    xml = serialize_error(err, "rid-3", xml_namespace=namespace)
    parsed = botocore_parse("iam", "GetUser", xml, status=err.status)
    expected_message = err.message.replace("\x00", "\ufffd")
    assert parsed["Error"] == {"Type": err.fault_type, "Code": err.code, "Message": expected_message}
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-3"


def test_error_fault_types() -> None:
    assert b"<Type>Receiver</Type>" in serialize_error(InternalFailure(), "r")
    assert b"<Type>Sender</Type>" in serialize_error(NoSuchEntity("x"), "r")


def test_sts_error_namespace() -> None:
    xml = serialize_error(NoSuchEntity("x"), "r", xml_namespace=STS.xml_namespace)
    assert xml.startswith(b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')


def test_authorization_details_nested_documents_encoded() -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": []})
    result = {
        "RoleDetailList": [
            {
                "RoleName": "r",
                "AssumeRolePolicyDocument": doc,
                "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": doc}],
            }
        ],
        "Policies": [
            {"PolicyName": "m", "PolicyVersionList": [{"Document": doc, "VersionId": "v1", "IsDefaultVersion": True}]}
        ],
        "IsTruncated": False,
    }
    xml = serialize_result(IAM, "GetAccountAuthorizationDetails", result, "r")
    assert xml.count(b"%7B%22Version%22%3A%20%222012-10-17%22") == 3
    assert b'{"Version"' not in xml
