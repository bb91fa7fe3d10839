"""AWS JSON 1.1: requests built by botocore's serializer, answers read by botocore's parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from iamd.core.errors import (
    AccessDenied,
    AwsError,
    InvalidInputException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from iamd.web.protocol.json_codec import WireResponse
from iamd.web.protocol.json_protocol import (
    json_response_headers,
    parse_json_request,
    serialize_json_error,
    serialize_json_result,
    target_operation,
)
from iamd.web.protocol.model import ServiceSpec, load_service
from tests.unit.protocol.botocore_wire import parse_answer, wire_request

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
ORG = "AWSOrganizationsV20161128"
CT = "application/x-amz-json-1.1"


def send(service: str, operation: str, params: dict[str, Any], *, validate: bool = True) -> tuple[str, dict[str, Any]]:
    request = wire_request(service, operation, params, validate=validate)
    assert request.method == "POST" and request.path == "/"
    return parse_json_request(
        load_service(service), request.header("x-amz-target"), request.body, content_type=request.header("content-type")
    )


def raw(body: bytes | str, *, service: str = "organizations", target: str | None = f"{ORG}.ListAccounts") -> Any:
    data = body.encode() if isinstance(body, str) else body
    return parse_json_request(load_service(service), target, data, content_type=CT)


def refused(body: bytes | str, **kwargs: Any) -> AwsError:
    with pytest.raises(AwsError) as info:
        raw(body, **kwargs)
    return info.value


def answer(service: str, operation: str, result: dict[str, Any] | None) -> dict[str, Any]:
    spec = load_service(service)
    body = serialize_json_result(spec, operation, result)
    parsed = parse_answer(service, operation, WireResponse(200, json_response_headers(spec, "rid-1"), body))
    assert parsed.pop("ResponseMetadata")["RequestId"] == "rid-1"
    return parsed


# --- requests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        (
            "organizations",
            "CreateAccount",
            {
                "Email": "ops+1@example.com",
                "AccountName": "Prod (EU) #1",
                "RoleName": "OrganizationAccountAccessRole",
                "IamUserAccessToBilling": "DENY",
                "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "cost:center", "Value": ""}],
            },
        ),
        ("organizations", "ListAccounts", {"MaxResults": 20, "NextToken": "abc=="}),
        ("organizations", "ListAccounts", {}),
        ("organizations", "DescribeAccount", {"AccountId": "123456789012"}),
        (
            "organizations",
            "ListPoliciesForTarget",
            {"TargetId": "ou-ab12-cdefgh34", "Filter": "SERVICE_CONTROL_POLICY"},
        ),
        (
            "identitystore",
            "CreateUser",
            {
                "IdentityStoreId": "d-1234567890",
                "UserName": "jdoe",
                "Name": {"GivenName": "Jane", "FamilyName": "Doe"},
                "DisplayName": "Jane Doe",
                "Emails": [{"Value": "jane@example.com", "Type": "work", "Primary": True}],
            },
        ),
        (
            "identitystore",
            "GetUserId",
            {
                "IdentityStoreId": "d-1234567890",
                "AlternateIdentifier": {
                    "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": {"nested": [1, "x", None, True]}}
                },
            },
        ),
        (
            "identitystore",
            "GetGroupMembershipId",
            {
                "IdentityStoreId": "d-1234567890",
                "GroupId": "a1b2c3d4-5678-90ab-cdef-111111111111",
                "MemberId": {"UserId": "a1b2c3d4-5678-90ab-cdef-222222222222"},
            },
        ),
        (
            "sso-admin",
            "CreateApplication",
            {
                "InstanceArn": "arn:aws:sso:::instance/ssoins-1234567890abcdef",
                "ApplicationProviderArn": "arn:aws:sso::aws:applicationProvider/custom",
                "Name": "app",
                "ClientToken": "token-1",
                "Tags": [{"Key": "k", "Value": "v"}],
                "Status": "ENABLED",
            },
        ),
        (
            "sso-admin",
            "PutApplicationGrant",
            {
                "ApplicationArn": "arn:aws:sso::123456789012:application/ssoins-1234567890abcdef/apl-1234567890abcdef",
                "GrantType": "refresh_token",
                "Grant": {"RefreshToken": {}},
            },
        ),
    ],
)
def test_round_trip_from_botocore(service: str, operation: str, params: dict[str, Any]) -> None:
    assert send(service, operation, params) == (operation, params)


def test_timestamps_and_blobs_from_botocore() -> None:
    spec = json_spec()
    request = botocore_json_request({"When": WHEN, "Data": b"\x00\xff", "Ratio": float("inf")})
    _, inputs = parse_json_request(spec, "T.Op", request, content_type=CT)
    assert inputs == {"When": WHEN, "Data": b"\x00\xff", "Ratio": float("inf")}
    assert inputs["When"].tzinfo is not None
    assert json.loads(request)["When"] == 1704164645


def test_operations_without_input_accept_an_empty_body() -> None:
    spec = load_service("organizations")
    for body in (b"", b"{}", b"  \n", b'{"Ignored": 1}'):
        assert parse_json_request(spec, f"{ORG}.DescribeOrganization", body, content_type=CT) == (
            "DescribeOrganization",
            {},
        )
    assert send("organizations", "DescribeOrganization", {}) == ("DescribeOrganization", {})
    assert raw(b"") == ("ListAccounts", {})


def test_unknown_members_and_nulls_are_ignored() -> None:
    assert raw('{"MaxResults": null, "Surprise": {"x": 1}, "__type": "x"}') == ("ListAccounts", {})


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "ListAccounts",
        f"{ORG}.NoSuchOperation",
        "AWSIdentityStore.ListUsers",
        f"{ORG}.",
        f"x{ORG}.ListAccounts",
    ],
)
def test_unknown_target(target: str | None) -> None:
    error = refused("{}", target=target)
    assert isinstance(error, UnknownOperationException)
    assert (error.code, error.status) == ("UnknownOperationException", 400)


@pytest.mark.parametrize(
    "content_type", [None, "", "application/x-www-form-urlencoded", "text/plain", "application/json", "application/xml"]
)
def test_wrong_content_type_is_an_unknown_operation(content_type: str | None) -> None:
    with pytest.raises(UnknownOperationException, match="Content-Type"):
        parse_json_request(load_service("organizations"), f"{ORG}.ListAccounts", b"{}", content_type=content_type)


@pytest.mark.parametrize(
    "content_type",
    ["application/x-amz-json-1.1", "Application/X-Amz-Json-1.1; charset=UTF-8", "application/x-amz-json-1.0"],
)
def test_json_content_types(content_type: str) -> None:
    spec = load_service("organizations")
    assert parse_json_request(spec, f"{ORG}.ListAccounts", b"{}", content_type=content_type)[0] == "ListAccounts"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b'{"MaxResults": 1,}',
        b"[]",
        b'"text"',
        b"null",
        b"42",
        b'{"MaxResults": NaN}',
        b'{"MaxResults": Infinity}',
        b'{"NextToken": "\xff"}',
        b"[" * 100_000,
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    error = refused(body)
    assert isinstance(error, SerializationException) and error.status == 400


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"MaxResults": "10"}', "'maxResults': expected an integer, got a string"),
        ('{"MaxResults": 1.5}', "'maxResults': expected an integer, got a number"),
        ('{"MaxResults": true}', "'maxResults': expected an integer, got a boolean"),
        ('{"MaxResults": 2147483648}', "'maxResults': 2147483648 is out of range for a integer"),
        ('{"NextToken": 5}', "'nextToken': expected a JSON string, got a number"),
        ('{"NextToken": ["x"]}', "'nextToken': expected a JSON string, got an array"),
    ],
)
def test_wrong_types_are_serialization_errors(body: str, where: str) -> None:
    error = refused(body)
    assert isinstance(error, SerializationException)
    assert where in error.message


@pytest.mark.parametrize(
    ("operation", "body", "where"),
    [
        (
            "CreateAccount",
            '{"Email": "a@b.co", "AccountName": "n", "Tags": {"Key": "k"}}',
            "'tags': expected a JSON array",
        ),
        ("CreateAccount", '{"Email": "a@b.co", "AccountName": "n", "Tags": [null]}', "'tags.1.member': null"),
        (
            "CreateAccount",
            '{"Email": "a@b.co", "AccountName": "n", "Tags": [{"Key": 1, "Value": "v"}]}',
            "'tags.1.member.key': expected a JSON string",
        ),
        (
            "CreateAccount",
            '{"Email": "a@b.co", "AccountName": "n", "Tags": ["x"]}',
            "'tags.1.member': expected a JSON object",
        ),
    ],
)
def test_nested_wrong_types(operation: str, body: str, where: str) -> None:
    error = refused(body, target=f"{ORG}.{operation}")
    assert isinstance(error, SerializationException) and where in error.message


def test_unions_need_exactly_one_member() -> None:
    target = "AWSIdentityStore.GetUserId"
    both = {
        "ExternalId": {"Issuer": "i", "Id": "x"},
        "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "j"},
    }
    for union in (both, {}, {"Unknown": 1}):
        body = json.dumps({"IdentityStoreId": "d-1234567890", "AlternateIdentifier": union})
        error = refused(body, service="identitystore", target=target)
        assert isinstance(error, SerializationException) and "exactly one" in error.message


def test_missing_required_member_per_service() -> None:
    org = refused("{}", target=f"{ORG}.DescribeAccount")
    assert isinstance(org, InvalidInputException) and org.fields == {"Reason": "INPUT_REQUIRED"}
    ids = refused(
        '{"IdentityStoreId": "d-1234567890"}', service="identitystore", target="AWSIdentityStore.DescribeUser"
    )
    assert isinstance(ids, ValidationException)
    assert ids.message == (
        "1 validation error detected: Value null at 'userId' failed to satisfy constraint: Member must not be null"
    )


def test_bad_enum_and_pattern() -> None:
    with pytest.raises(InvalidInputException) as info:
        send("organizations", "ListPolicies", {"Filter": "NOT_A_POLICY_TYPE"}, validate=False)
    assert info.value.fields == {"Reason": "INVALID_ENUM_POLICY_TYPE"}
    with pytest.raises(InvalidInputException) as info:
        send("organizations", "DescribeAccount", {"AccountId": "1234"}, validate=False)
    assert info.value.message == "You provided a value that does not match the required pattern."
    with pytest.raises(ValidationException) as admin:
        send("sso-admin", "ListInstances", {"MaxResults": 0}, validate=False)
    assert admin.value.message == (
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_target_operation_resolves_every_operation() -> None:
    for service in ("organizations", "identitystore", "sso-admin"):
        spec = load_service(service)
        for name in spec.operations:
            assert target_operation(spec, f"{spec.target_prefix}.{name}") == name
            assert (
                wire_request(service, name, {}, validate=False).header("x-amz-target") == f"{spec.target_prefix}.{name}"
            )


def test_other_protocols_are_refused() -> None:
    with pytest.raises(ValueError, match="not the JSON protocol"):
        parse_json_request(load_service("rolesanywhere"), "x.y", b"{}", content_type=CT)


# --- answers --------------------------------------------------------------------------------------


def test_result_round_trip_through_botocore() -> None:
    account = {
        "Id": "123456789012",
        "Arn": "arn:aws:organizations::111111111111:account/o-exampleorgid/123456789012",
        "Email": "ops@example.com",
        "Name": "Prod",
        "Status": "ACTIVE",
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": WHEN,
    }
    parsed = answer("organizations", "DescribeAccount", {"Account": account})
    assert parsed == {"Account": account}
    listed = answer("organizations", "ListAccounts", {"Accounts": [account, account], "NextToken": "n"})
    assert listed == {"Accounts": [account, account], "NextToken": "n"}
    assert answer("organizations", "ListAccounts", {"Accounts": []}) == {"Accounts": []}


def test_result_wire_form() -> None:
    spec = load_service("organizations")
    when = datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    body = serialize_json_result(spec, "DescribeAccount", {"Account": {"Id": "123456789012", "JoinedTimestamp": when}})
    assert body == b'{"Account":{"Id":"123456789012","JoinedTimestamp":1704164645.25}}'
    body = serialize_json_result(
        spec, "DescribeAccount", {"Account": {"Name": "日本\ud800", "JoinedTimestamp": 1704164645}}
    )
    assert body == '{"Account":{"Name":"日本\\ud800","JoinedTimestamp":1704164645}}'.encode()
    assert serialize_json_result(spec, "DescribeAccount", {"Account": None}) == b"{}"
    assert serialize_json_result(spec, "DeleteOrganization", None) == b"{}"
    assert json_response_headers(spec, "r") == [("Content-Type", CT), ("x-amzn-RequestId", "r")]


def test_documents_and_unions_in_results() -> None:
    result = {"UserId": "u", "IdentityStoreId": "d-1234567890"}
    assert answer("identitystore", "GetUserId", result) == result
    scopes = {"Scopes": [{"Scope": "sso:account:access", "AuthorizedTargets": ["arn:x"]}]}
    assert answer("sso-admin", "ListApplicationAccessScopes", scopes) == scopes
    grant = {
        "Grant": {
            "JwtBearer": {"AuthorizedTokenIssuers": [{"TrustedTokenIssuerArn": "arn:t", "AuthorizedAudiences": ["a"]}]}
        }
    }
    assert answer("sso-admin", "GetApplicationGrant", grant) == grant


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"Nope": 1}, "unknown member 'Nope'"),
        ({"Account": {"Id": 12}}, "Account.Id: expected a string"),
        ({"Account": {"JoinedTimestamp": "yesterday"}}, "Account.JoinedTimestamp"),
        ({"Account": []}, "expected a mapping"),
    ],
)
def test_handler_bugs_are_type_errors(result: dict[str, Any], problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        serialize_json_result(load_service("organizations"), "DescribeAccount", result)


def test_output_less_operation_with_a_result_is_a_bug() -> None:
    with pytest.raises(TypeError, match="no output"):
        serialize_json_result(load_service("organizations"), "DeleteOrganization", {"x": 1})
    with pytest.raises(ValueError, match="no operation"):
        serialize_json_result(load_service("organizations"), "Nope", None)


# --- errors ---------------------------------------------------------------------------------------


def error_answer(service: str, error: AwsError) -> tuple[WireResponse, dict[str, Any]]:
    wire = serialize_json_error(error, "rid-9", load_service(service))
    operation = next(iter(load_service(service).operations))
    return wire, parse_answer(service, operation, wire)


def test_modeled_error_with_reason() -> None:
    wire, parsed = error_answer(
        "organizations", InvalidInputException("You specified an invalid value.", Reason="INVALID_ENUM")
    )
    assert wire.status == 400
    assert json.loads(wire.body) == {
        "__type": "InvalidInputException",
        "Message": "You specified an invalid value.",
        "Reason": "INVALID_ENUM",
    }
    assert dict(wire.headers) == {
        "Content-Type": CT,
        "x-amzn-RequestId": "rid-9",
        "x-amzn-ErrorType": "InvalidInputException",
    }
    assert parsed["Error"] == {"Code": "InvalidInputException", "Message": "You specified an invalid value."}
    assert parsed["Reason"] == "INVALID_ENUM"
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-9"


def test_unmodeled_errors() -> None:
    for error in (SerializationException("bad body"), UnknownOperationException("no such op"), AccessDenied("denied")):
        wire, parsed = error_answer("identitystore", error)
        assert wire.status == error.status
        assert json.loads(wire.body) == {"__type": error.code, "message": error.message}
        assert parsed["Error"] == {"Code": error.code, "Message": error.message}


def test_modeled_error_of_another_service_shape() -> None:
    wire, parsed = error_answer("identitystore", ValidationException("1 validation error detected: x"))
    assert json.loads(wire.body) == {"__type": "ValidationException", "Message": "1 validation error detected: x"}
    assert parsed["Error"]["Message"] == "1 validation error detected: x"
    assert parsed["Message"] == "1 validation error detected: x"


def test_error_without_a_service() -> None:
    wire = serialize_json_error(UnknownOperationException("x"), "r")
    assert wire.status == 400 and ("Content-Type", CT) in wire.headers
    assert json.loads(wire.body) == {"__type": "UnknownOperationException", "message": "x"}


def test_error_field_the_model_lacks_is_a_bug() -> None:
    with pytest.raises(TypeError, match="unknown member 'Bogus'"):
        serialize_json_error(InvalidInputException("m", Bogus="x"), "r", load_service("organizations"))


# --- a synthetic JSON model for types the six models do not use in requests -----------------------


def json_spec() -> ServiceSpec:
    return ServiceSpec("synthetic-json", JSON_MODEL)


JSON_MODEL: dict[str, Any] = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "protocol": "json",
        "jsonVersion": "1.0",
        "targetPrefix": "T",
        "endpointPrefix": "t",
        "serviceId": "T",
        "signatureVersion": "v4",
    },
    "operations": {
        "Op": {
            "name": "Op",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "In"},
            "output": {"shape": "In"},
        }
    },
    "shapes": {
        "In": {
            "type": "structure",
            "members": {
                "When": {"shape": "When"},
                "Iso": {"shape": "When", "timestampFormat": "iso8601"},
                "Data": {"shape": "Data"},
                "Ratio": {"shape": "Ratio"},
                "Renamed": {"shape": "Small", "locationName": "other_name"},
                "Tiny": {"shape": "Tiny"},
            },
        },
        "When": {"type": "timestamp"},
        "Data": {"type": "blob"},
        "Ratio": {"type": "double"},
        "Small": {"type": "string"},
        "Tiny": {"type": "byte"},
    },
}


def botocore_json_request(params: dict[str, Any]) -> bytes:
    from botocore.model import ServiceModel
    from botocore.serialize import create_serializer

    model = ServiceModel(JSON_MODEL, service_name="synthetic-json").operation_model("Op")
    request = create_serializer("json", include_validation=False).serialize_to_request(params, model)
    assert request["headers"]["Content-Type"] == "application/x-amz-json-1.0"
    body: bytes = request["body"]
    return body


def test_synthetic_round_trip() -> None:
    spec = json_spec()
    params = {"When": WHEN, "Iso": WHEN, "Data": b"", "Ratio": -0.5, "Renamed": "r", "Tiny": -128}
    body = botocore_json_request(params)
    assert json.loads(body)["other_name"] == "r"
    assert json.loads(body)["Iso"] == "2024-01-02T03:04:05Z"
    assert parse_json_request(spec, "T.Op", body, content_type="application/x-amz-json-1.0") == ("Op", params)
    out = serialize_json_result(spec, "Op", {**params, "Ratio": float("nan")})
    assert json.loads(out) == {
        "When": 1704164645,
        "Iso": "2024-01-02T03:04:05Z",
        "Data": "",
        "Ratio": "NaN",
        "other_name": "r",
        "Tiny": -128,
    }
    assert json_response_headers(spec, "r")[0] == ("Content-Type", "application/x-amz-json-1.0")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"When": "2024-01-02T03:04:05Z"}', "expected epoch seconds"),
        ('{"Iso": 1704164645}', "expected an iso8601 timestamp string"),
        ('{"Iso": "yesterday"}', "is not an iso8601 timestamp"),
        ('{"Data": "not base64!"}', "not valid base64"),
        ('{"Data": 5}', "expected a base64 string"),
        ('{"Ratio": "1.5"}', "expected a number"),
        ('{"Tiny": 128}', "out of range for a byte"),
        ('{"When": 1e300}', "is not a valid time"),
    ],
)
def test_synthetic_malformed_values(body: str, problem: str) -> None:
    with pytest.raises(SerializationException, match=problem):
        parse_json_request(json_spec(), "T.Op", body.encode(), content_type=CT)


def test_fractional_epoch_seconds() -> None:
    _, inputs = parse_json_request(json_spec(), "T.Op", b'{"When": 1704164645.25, "Ratio": 3}', content_type=CT)
    assert inputs == {"When": datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), "Ratio": 3.0}
    assert isinstance(inputs["Ratio"], float)
