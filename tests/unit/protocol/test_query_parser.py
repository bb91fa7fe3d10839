"""parse_input against botocore's own query serializer, and AWS's validation messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest
from botocore.serialize import create_serializer
from botocore.session import get_session

from iamd.core.errors import AwsError, InvalidAction, MalformedQueryString, MissingAction, ValidationError
from iamd.web.protocol.form import parse_form
from iamd.web.protocol.model import load_service
from iamd.web.protocol.query_parser import parse_action, parse_input

_SESSION = get_session()
IAM = load_service("iam")
STS = load_service("sts")

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket/a b/*"},
            {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*", "Condition": {"Bool": {"aws:x": "true"}}},
        ],
    },
    indent=2,
)
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def body_for(service: str, operation: str, params: dict[str, Any]) -> bytes:
    """The exact form body botocore would send."""
    model = _SESSION.get_service_model(service).operation_model(operation)
    request = create_serializer("query").serialize_to_request(params, model)
    body = AWSRequest(method="POST", url="https://example.test/", data=request["body"]).prepare().body
    return body if isinstance(body, bytes) else body.encode()


def round_trip(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    spec = IAM if service == "iam" else STS
    form = parse_form(body_for(service, operation, params))
    assert parse_action(form) == operation
    return parse_input(spec, operation, form)


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("iam", "CreateUser", {"UserName": "bob", "Path": "/eng/", "Tags": [{"Key": "team", "Value": "a b"}]}),
        (
            "iam",
            "CreateUser",
            {
                "UserName": "b.o+b=,@-_1",
                "PermissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
                "Tags": [{"Key": f"k{i}", "Value": f"Été 日本 {i}"} for i in range(12)],
            },
        ),
        ("iam", "PutUserPolicy", {"UserName": "bob", "PolicyName": "inline", "PolicyDocument": POLICY}),
        (
            "iam",
            "CreatePolicy",
            {
                "PolicyName": "p",
                "Path": "/a/",
                "PolicyDocument": POLICY,
                "Description": "desc with 'quotes' & <angle>",
                "Tags": [],
            },
        ),
        ("iam", "UpdateAssumeRolePolicy", {"RoleName": "r", "PolicyDocument": TRUST}),
        (
            "iam",
            "CreateRole",
            {
                "RoleName": "r",
                "AssumeRolePolicyDocument": TRUST,
                "MaxSessionDuration": 43200,
                "Description": "",
                "Tags": [{"Key": "a", "Value": ""}],
            },
        ),
        ("iam", "TagRole", {"RoleName": "r", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}),
        ("iam", "UntagRole", {"RoleName": "r", "TagKeys": ["a", "b", "c d"]}),
        (
            "iam",
            "SimulatePrincipalPolicy",
            {
                "PolicySourceArn": "arn:aws:iam::123456789012:user/bob",
                "PolicyInputList": [POLICY, TRUST],
                "ActionNames": ["s3:GetObject", "s3:PutObject"],
                "ResourceArns": ["arn:aws:s3:::b/k"],
                "ContextEntries": [
                    {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1"], "ContextKeyType": "ip"},
                    {
                        "ContextKeyName": "aws:MultiFactorAuthPresent",
                        "ContextKeyValues": ["true", "false"],
                        "ContextKeyType": "booleanList",
                    },
                ],
                "ResourceHandlingOption": "EC2-VPC-InstanceStore",
                "MaxItems": 100,
                "Marker": "m",
            },
        ),
        (
            "iam",
            "GetAccountAuthorizationDetails",
            {"Filter": ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"], "MaxItems": 1},
        ),
        ("iam", "ListPolicies", {"Scope": "Local", "OnlyAttached": True, "PolicyUsageFilter": "PermissionsPolicy"}),
        ("iam", "ListPolicies", {"OnlyAttached": False, "PathPrefix": "/"}),
        ("iam", "GetAccountSummary", {}),
        ("iam", "DeleteAccountPasswordPolicy", {}),
        (
            "iam",
            "UpdateAccountPasswordPolicy",
            {"MinimumPasswordLength": 6, "RequireSymbols": True, "MaxPasswordAge": 1095, "HardExpiry": False},
        ),
        (
            "iam",
            "CreateLoginProfile",
            {"UserName": "bob", "Password": "p@ss word\u00e9\t", "PasswordResetRequired": True},
        ),
        (
            "sts",
            "AssumeRole",
            {
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "RoleSessionName": "session@x.y",
                "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {"arn": "arn:aws:iam::1:policy/p"}],
                "Policy": '{"Version":"2012-10-17","Statement":[]} é\t',
                "DurationSeconds": 3600,
                "Tags": [{"Key": "Project", "Value": "x"}, {"Key": "Team", "Value": "y"}],
                "TransitiveTagKeys": ["Project", "Team"],
                "ExternalId": "ext-1",
                "SerialNumber": "arn:aws:iam::123456789012:mfa/bob",
                "TokenCode": "123456",
                "SourceIdentity": "bob",
                "ProvidedContexts": [
                    {"ProviderArn": "arn:aws:iam::aws:contextProvider/x", "ContextAssertion": "a" * 64}
                ],
            },
        ),
        ("sts", "GetSessionToken", {"DurationSeconds": 900}),
        ("sts", "GetCallerIdentity", {}),
        ("sts", "GetFederationToken", {"Name": "fed", "PolicyArns": [], "Tags": []}),
    ],
)
def test_botocore_round_trip(service: str, operation: str, params: dict[str, Any]) -> None:
    assert round_trip(service, operation, params) == params


def test_result_is_keyed_by_member_names_in_model_order() -> None:
    result = parse_input(
        IAM, "CreateUser", {"Tags.member.1.Key": "k", "Tags.member.1.Value": "v", "UserName": "u", "Path": "/"}
    )
    assert list(result) == ["Path", "UserName", "Tags"]


def test_list_order_follows_indices() -> None:
    params = {"RoleName": "r", "TagKeys.member.3": "three", "TagKeys.member.1": "one", "TagKeys.member.2": "two"}
    assert parse_input(IAM, "UntagRole", params)["TagKeys"] == ["one", "two", "three"]


def test_list_indices_with_gaps_are_refused() -> None:
    # Positions, not labels: 2, 7, 10 would be one list to a reader that sorts and none to one that counts.
    params = {"RoleName": "r", "TagKeys.member.10": "ten", "TagKeys.member.2": "two", "TagKeys.member.7": "seven"}
    with pytest.raises(MalformedQueryString) as exc:
        parse_input(IAM, "UntagRole", params)
    assert exc.value.message == (
        "The request has TagKeys.member.2 but no TagKeys.member.1: "
        "number the members of TagKeys.member 1, 2, 3, ... without gaps."
    )


def test_list_of_structures_with_a_missing_index_is_refused() -> None:
    params = {
        "UserName": "u",
        "Tags.member.3.Key": "c",
        "Tags.member.3.Value": "3",
        "Tags.member.1.Value": "1",
        "Tags.member.1.Key": "a",
    }
    with pytest.raises(MalformedQueryString, match=r"has Tags\.member\.3 but no Tags\.member\.2: "):
        parse_input(IAM, "CreateUser", params)


def test_empty_list_marker() -> None:
    assert parse_input(IAM, "CreateUser", {"UserName": "u", "Tags": ""}) == {"UserName": "u", "Tags": []}
    # A marker next to elements does not hide them.
    params = {"UserName": "u", "Tags": "", "Tags.member.1.Key": "k", "Tags.member.1.Value": "v"}
    assert parse_input(IAM, "CreateUser", params)["Tags"] == [{"Key": "k", "Value": "v"}]
    # A non-empty value for a list name means nothing.
    assert parse_input(IAM, "CreateUser", {"UserName": "u", "Tags": "x"}) == {"UserName": "u"}


def test_ignored_parameters() -> None:
    params = {
        "Action": "GetUser",
        "Version": "2010-05-08",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "AKIA/20240101/us-east-1/iam/aws4_request",
        "X-Amz-Signature": "abc",
        "X-Amz-Security-Token": "tok",
        "UserName": "bob",
        "Unknown": "x",
        "UserName.Sub": "x",
        "Tags.member.1.Key": "not a member of GetUser",
    }
    assert parse_input(IAM, "GetUser", params) == {"UserName": "bob"}


@pytest.mark.parametrize(
    "key",
    [
        "Tags.1.Key",
        "Tags.item.1.Key",
        "Tags.member.1.Other",
        "Tags.member.1",
        "Tags.member",
        "Tags.member.1.Key.Deeper",
        "Tags.",
        ".Tags",
    ],
)
def test_malformed_nested_names_are_ignored(key: str) -> None:
    assert parse_input(IAM, "CreateUser", {"UserName": "u", key: "x"}) == {"UserName": "u"}


@pytest.mark.parametrize(
    "index",
    ["0", "00", "01", "x", "-1", "+1", " 1", "1e3", "\u0661", "\uff11", "1000000000", "99999999999"],
)
def test_indexes_that_are_not_plain_positions_are_refused(index: str) -> None:
    params = {"UserName": "u", "Tags.member.1.Key": "a", "Tags.member.1.Value": "1", f"Tags.member.{index}.Key": "x"}
    with pytest.raises(MalformedQueryString) as exc:
        parse_input(IAM, "CreateUser", params)
    assert exc.value.message == (
        f"The parameter Tags.member.{index}.Key has the index '{index}' where a position is expected: "
        "number the members of Tags.member 1, 2, 3, ... in plain decimal, without gaps."
    )


def test_scalar_conversions() -> None:
    result = parse_input(
        IAM,
        "UpdateAccountPasswordPolicy",
        {"MinimumPasswordLength": "+010", "RequireSymbols": "TRUE", "RequireNumbers": "False", "MaxPasswordAge": "1"},
    )
    assert result == {"MinimumPasswordLength": 10, "RequireSymbols": True, "RequireNumbers": False, "MaxPasswordAge": 1}


# --- validation messages ------------------------------------------------------------------


def violation(spec: Any, operation: str, params: dict[str, str]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_input(spec, operation, params)
    err = info.value
    assert err.code == "ValidationError" and err.status == 400 and err.fault_type == "Sender"
    return err.message


def test_missing_required_member() -> None:
    assert violation(IAM, "CreateUser", {}) == (
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
    )


def test_pattern_and_length_errors_are_collected() -> None:
    message = violation(IAM, "CreateUser", {"UserName": "a b", "Path": "/" + "x" * 511 + "/"})
    assert message == (
        "2 validation errors detected: "
        f"Value '/{'x' * 511}/' at 'path' failed to satisfy constraint: "
        "Member must have length less than or equal to 512; "
        "Value 'a b' at 'userName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    )


def test_pattern_and_minimum_length_on_one_value() -> None:
    message = violation(STS, "AssumeRole", {"RoleArn": "", "RoleSessionName": "s1"})
    assert message == (
        "2 validation errors detected: "
        "Value '' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+; "
        "Value '' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"
    )


def test_maximum_length() -> None:
    assert violation(IAM, "GetRole", {"RoleName": "r" * 65}) == (
        f"1 validation error detected: Value '{'r' * 65}' at 'roleName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )


def test_enum() -> None:
    values = ", ".join(IAM.shape("EntityType")["enum"])
    message = violation(
        IAM,
        "ListEntitiesForPolicy",
        {"PolicyArn": "arn:aws:iam::123456789012:policy/p", "EntityFilter": "Bogus"},
    )
    assert message == (
        "1 validation error detected: Value 'Bogus' at 'entityFilter' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{values}]"
    )
    assert values.startswith("User, Role, Group")


def test_numeric_range() -> None:
    assert violation(IAM, "ListUsers", {"MaxItems": "0"}) == (
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )
    assert violation(IAM, "ListUsers", {"MaxItems": "1001"}) == (
        "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000"
    )
    assert parse_input(IAM, "ListUsers", {"MaxItems": "1000"}) == {"MaxItems": 1000}
    message = violation(
        STS,
        "AssumeRole",
        {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s", "DurationSeconds": "899"},
    )
    assert (
        "Value 's' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2" in message
    )
    assert (
        "Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900" in message
    )
    assert message.startswith("2 validation errors detected: ")


def test_nested_member_paths() -> None:
    params = {
        "UserName": "u",
        "Tags.member.1.Key": "ok",
        "Tags.member.1.Value": "fine",
        "Tags.member.2.Key": "bad!",
        "Tags.member.2.Value": "x" * 257,
        "Tags.member.3.Value": "v",
    }
    message = violation(IAM, "CreateUser", params)
    assert message == (
        "3 validation errors detected: "
        "Value 'bad!' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+; "
        f"Value '{'x' * 257}' at 'tags.2.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 256; "
        "Value null at 'tags.3.member.key' failed to satisfy constraint: Member must not be null"
    )


def test_list_elements_and_list_of_lists_paths() -> None:
    message = violation(IAM, "UntagRole", {"RoleName": "r", "TagKeys.member.1": "ok", "TagKeys.member.2": "no#"})
    assert "Value 'no#' at 'tagKeys.2.member' failed to satisfy constraint" in message
    params = {
        "PolicySourceArn": "arn:aws:iam::123456789012:user/u",
        "ActionNames.member.1": "s3:GetObject",
        "ContextEntries.member.1.ContextKeyName": "aws:x",
        "ContextEntries.member.1.ContextKeyType": "string",
        "ContextEntries.member.1.ContextKeyValues.member.1": "fine",
        "ContextEntries.member.2.ContextKeyName": "aws:y",
        "ContextEntries.member.2.ContextKeyType": "nope",
    }
    message = violation(IAM, "SimulatePrincipalPolicy", params)
    assert "Value 'nope' at 'contextEntries.2.member.contextKeyType' failed to satisfy constraint" in message
    ok = parse_input(IAM, "SimulatePrincipalPolicy", {**params, "ContextEntries.member.2.ContextKeyType": "stringList"})
    assert ok["ContextEntries"][0]["ContextKeyValues"] == ["fine"]


def test_list_length() -> None:
    params = {"UserName": "u"}
    for i in range(1, 52):
        params[f"Tags.member.{i}.Key"] = f"k{i}"
        params[f"Tags.member.{i}.Value"] = "v"
    message = violation(IAM, "CreateUser", params)
    assert message.startswith("1 validation error detected: Value '[{Key: k1, Value: v}, {Key: k2, Value: v}, ")
    assert message.endswith(
        "{Key: k51, Value: v}]' at 'tags' failed to satisfy constraint: "
        "Member must have length less than or equal to 50"
    )
    keys = {"RoleName": "r", **{f"TagKeys.member.{i}": f"k{i}" for i in range(1, 52)}}
    assert "at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50" in violation(
        IAM, "UntagRole", keys
    )


def test_sensitive_values_are_not_echoed() -> None:
    message = violation(IAM, "CreateLoginProfile", {"UserName": "u", "Password": "pw\x01"})
    assert message == (
        "1 validation error detected: Value at 'password' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
    )
    assert violation(IAM, "ChangePassword", {"OldPassword": "x"}) == (
        "1 validation error detected: Value null at 'newPassword' failed to satisfy constraint: Member must not be null"
    )
    assert "Value at 'password' failed to satisfy constraint: Member must have length greater than or equal to 1" in (
        violation(IAM, "CreateLoginProfile", {"UserName": "u", "Password": ""})
    )


def test_supplementary_characters_where_the_pattern_allows_them() -> None:
    arn = "arn:aws:iam::123456789012:role/😀"
    assert parse_input(STS, "AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1"})["RoleArn"] == arn
    assert "at 'policy'" in violation(STS, "AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1", "Policy": "{} 😀"})


def test_control_characters_are_refused_only_by_patterns() -> None:
    doc = '{"Version":"2012-10-17",\t\r\n"Statement":[]}'
    assert (
        parse_input(IAM, "PutRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": doc})["PolicyDocument"]
        == doc
    )
    message = violation(IAM, "PutRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": "{\x00}"})
    assert "at 'policyDocument' failed to satisfy constraint: Member must satisfy regular expression pattern" in message
    # Tag values: no tabs (\p{Z} is not whitespace in general).
    assert "tags.1.member.value" in violation(
        IAM, "CreateUser", {"UserName": "u", "Tags.member.1.Key": "k", "Tags.member.1.Value": "a\tb"}
    )


def test_unicode_letters_in_tags_but_not_in_names() -> None:
    ok = parse_input(
        IAM, "CreateUser", {"UserName": "u", "Tags.member.1.Key": "Équipe", "Tags.member.1.Value": "日本 ٣"}
    )
    assert ok["Tags"] == [{"Key": "Équipe", "Value": "日本 ٣"}]
    assert "at 'userName'" in violation(IAM, "CreateUser", {"UserName": "élodie"})


def test_all_violations_in_one_error() -> None:
    message = violation(
        IAM,
        "CreateRole",
        {"Path": "nope", "MaxSessionDuration": "60", "Tags.member.1.Key": ""},
    )
    assert message.startswith("7 validation errors detected: ")
    assert [part.split(" failed")[0] for part in message.split(": ", 1)[1].split("; ")] == [
        "Value 'nope' at 'path'",
        "Value null at 'roleName'",
        "Value null at 'assumeRolePolicyDocument'",
        "Value '60' at 'maxSessionDuration'",
        "Value '' at 'tags.1.member.key'",
        "Value '' at 'tags.1.member.key'",
        "Value null at 'tags.1.member.value'",
    ]


@pytest.mark.parametrize("value", ["ten", "", "1.5", "1e3", " 1", "0x10", "1_000", "٣", "99999999999"])
def test_bad_integers(value: str) -> None:
    assert violation(IAM, "ListUsers", {"MaxItems": value}) == (
        f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: "
        "Member must be an integer"
    )


@pytest.mark.parametrize("value", ["yes", "1", "", "t", "truee"])
def test_bad_booleans(value: str) -> None:
    assert violation(IAM, "ListPolicies", {"OnlyAttached": value}) == (
        f"1 validation error detected: Value '{value}' at 'onlyAttached' failed to satisfy constraint: "
        "Member must be a boolean (true or false)"
    )


def test_type_errors_and_constraints_together() -> None:
    message = violation(IAM, "ListPolicies", {"OnlyAttached": "yes", "MaxItems": "x", "Scope": "Mine"})
    assert message.startswith("3 validation errors detected: ")


def test_parse_action() -> None:
    assert parse_action({"Action": "GetUser"}) == "GetUser"
    for params in ({}, {"Action": ""}):
        with pytest.raises(MissingAction) as info:
            parse_action(params)
        assert info.value.code == "MissingAction" and info.value.status == 400


def test_unknown_operation() -> None:
    with pytest.raises(InvalidAction) as info:
        parse_input(IAM, "DoSomething", {})
    assert info.value.message == "Could not find operation DoSomething for version 2010-05-08"


def test_errors_are_aws_errors() -> None:
    with pytest.raises(AwsError):
        parse_input(IAM, "GetRole", {})
