"""REST-JSON requests built by botocore's serializer, answers read by botocore's parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from urllib3._collections import HTTPHeaderDict

from iamd.core.errors import (
    AccessDenied,
    AwsError,
    InvalidRequestException,
    SerializationException,
    UnknownOperationPath,
    UnsupportedMediaTypeException,
    ValidationException,
)
from iamd.web.protocol.json_codec import WireResponse
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.rest_json import (
    header_map,
    parse_rest_request,
    serialize_rest_error,
    serialize_rest_result,
    split_header_list,
)
from iamd.web.protocol.rest_router import RestRouter, router_for
from tests.unit.protocol.botocore_wire import WireRequest, parse_answer, wire_request

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
TA = "a1b2c3d4-5678-90ab-cdef-111111111111"
PROFILE = "a1b2c3d4-5678-90ab-cdef-222222222222"
TA_ARN = f"arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/{TA}"


def serve(service: str, request: WireRequest) -> tuple[str, dict[str, Any]]:
    spec = load_service(service)
    operation, labels = router_for(spec).match(request.method, request.path, request.query)
    return operation, parse_rest_request(spec, operation, labels, request.query, request.headers, request.body)


def send(service: str, operation: str, params: dict[str, Any], *, validate: bool = True) -> dict[str, Any]:
    routed, inputs = serve(service, wire_request(service, operation, params, validate=validate))
    assert routed == operation
    return inputs


def refused(service: str, operation: str, params: dict[str, Any]) -> AwsError:
    with pytest.raises(AwsError) as info:
        send(service, operation, params, validate=False)
    return info.value


def direct(
    service: str,
    operation: str,
    *,
    labels: dict[str, str] | None = None,
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> dict[str, Any]:
    return parse_rest_request(load_service(service), operation, labels or {}, query, headers or [], body)


# --- requests from botocore -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        (
            "rolesanywhere",
            "CreateTrustAnchor",
            {
                "name": "anchor",
                "source": {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": "-----BEGIN"}},
                "enabled": True,
                "tags": [{"key": "k", "value": "v"}],
                "notificationSettings": [{"enabled": False, "event": "CA_CERTIFICATE_EXPIRY", "threshold": 45}],
            },
        ),
        ("rolesanywhere", "GetTrustAnchor", {"trustAnchorId": TA}),
        ("rolesanywhere", "UpdateTrustAnchor", {"trustAnchorId": TA, "name": "renamed"}),
        ("rolesanywhere", "ListProfiles", {"pageSize": 10, "nextToken": "t/+=ok"}),
        ("rolesanywhere", "ListProfiles", {}),
        (
            "rolesanywhere",
            "DeleteAttributeMapping",
            {"profileId": PROFILE, "certificateField": "x509Subject", "specifiers": ["CN", "O,U", "日本"]},
        ),
        ("rolesanywhere", "ImportCrl", {"crlData": b"\x30\x82\x00\xff", "name": "crl", "trustAnchorArn": TA_ARN}),
        ("rolesanywhere", "UpdateCrl", {"crlId": TA, "crlData": b"\x01"}),
        ("rolesanywhere", "ListTagsForResource", {"resourceArn": TA_ARN}),
        ("rolesanywhere", "DisableProfile", {"profileId": PROFILE}),
        ("sso", "GetRoleCredentials", {"roleName": "Admin", "accountId": "123456789012", "accessToken": "tok-1"}),
        ("sso", "ListAccountRoles", {"accessToken": "tok", "accountId": "123456789012", "maxResults": 5}),
        ("sso", "ListAccounts", {"accessToken": "tok", "nextToken": "n 1"}),
        ("sso", "Logout", {"accessToken": "tok"}),
        ("sso-oidc", "RegisterClient", {"clientName": "cli", "clientType": "public", "scopes": ["sso:account:access"]}),
        ("sso-oidc", "StartDeviceAuthorization", {"clientId": "c", "clientSecret": "s", "startUrl": "https://x/start"}),
        (
            "sso-oidc",
            "CreateToken",
            {
                "clientId": "c",
                "clientSecret": "s",
                "grantType": "urn:ietf:params:oauth:grant-type:device_code",
                "deviceCode": "d",
            },
        ),
        ("sso-oidc", "CreateTokenWithIAM", {"clientId": "c", "grantType": "authorization_code", "code": "x"}),
    ],
)
def test_round_trip_from_botocore(service: str, operation: str, params: dict[str, Any]) -> None:
    assert send(service, operation, params) == params


def test_what_botocore_sends_for_the_portal() -> None:
    request = wire_request(
        "sso", "GetRoleCredentials", {"roleName": "R", "accountId": "123456789012", "accessToken": "t"}
    )
    assert (request.method, request.path, request.query) == (
        "GET",
        "/federation/credentials",
        "role_name=R&account_id=123456789012",
    )
    assert request.header("x-amz-sso_bearer_token") == "t"
    assert request.header("authorization") is None and request.body == b""


def test_repeated_query_parameters() -> None:
    labels = {"profileId": PROFILE}
    inputs = direct(
        "rolesanywhere",
        "DeleteAttributeMapping",
        labels=labels,
        query="certificateField=x509SAN&specifiers=a&specifiers=b+c&specifiers=",
    )
    assert inputs == {"profileId": PROFILE, "certificateField": "x509SAN", "specifiers": ["a", "b c", ""]}
    with pytest.raises(SerializationException, match="certificateField is given 2 times"):
        direct(
            "rolesanywhere",
            "DeleteAttributeMapping",
            labels=labels,
            query="certificateField=x509SAN&certificateField=x509Subject",
        )


@pytest.mark.parametrize("query", ["pageSize=ten", "pageSize=1.5", "pageSize=", "pageSize=99999999999", "pageSize=%C3"])
def test_bad_query_values(query: str) -> None:
    with pytest.raises(SerializationException):
        direct("rolesanywhere", "ListProfiles", query=query)


def test_headers_are_case_insensitive_and_repeats_join() -> None:
    assert header_map([("X-A", "1"), ("x-a", "2"), ("B", "3")]) == {"x-a": "1, 2", "b": "3"}
    assert header_map({"X-Amz-Sso_Bearer_Token": "t"}) == {"x-amz-sso_bearer_token": "t"}
    inputs = direct("sso", "Logout", headers=[("X-Amz-SSO_Bearer_Token", "tok")])
    assert inputs == {"accessToken": "tok"}


def test_empty_bodies() -> None:
    # No body members: the body is not read at all.
    assert direct("rolesanywhere", "DisableCrl", labels={"crlId": TA}, body=b"junk") == {"crlId": TA}
    # Body members, none given: an empty body is an empty object.
    assert direct("rolesanywhere", "UpdateProfile", labels={"profileId": PROFILE}) == {"profileId": PROFILE}
    assert direct("rolesanywhere", "UpdateProfile", labels={"profileId": PROFILE}, body=b"{}") == {"profileId": PROFILE}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_wrong_content_type(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeException) as info:
        direct(
            "rolesanywhere",
            "UpdateProfile",
            labels={"profileId": PROFILE},
            headers=[("content-type", content_type)],
            body=b'{"name": "x"}',
        )
    assert (info.value.code, info.value.status) == ("UnsupportedMediaTypeException", 415)


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/json; charset=utf-8", "application/x-amz-json-1.1"]
)
def test_json_content_types(content_type: str | None) -> None:
    headers = [("content-type", content_type)] if content_type else []
    inputs = direct(
        "rolesanywhere", "UpdateProfile", labels={"profileId": PROFILE}, headers=headers, body=b'{"name": "x"}'
    )
    assert inputs == {"profileId": PROFILE, "name": "x"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"name": 5}', "'name': expected a JSON string"),
        (b'{"durationSeconds": "1"}', "'durationSeconds': expected an integer"),
        (b'{"roleArns": [null]}', "'roleArns.1.member': null"),
        (b'{"managedPolicyArns": "arn"}', "'managedPolicyArns': expected a JSON array"),
    ],
)
def test_malformed_json_bodies(body: bytes, problem: str) -> None:
    with pytest.raises(SerializationException, match=problem):
        direct(
            "rolesanywhere",
            "UpdateProfile",
            labels={"profileId": PROFILE},
            headers=[("content-type", "application/json")],
            body=body,
        )


def test_missing_required_per_service() -> None:
    error = refused("rolesanywhere", "CreateProfile", {})
    assert isinstance(error, ValidationException)
    assert error.message == (
        "2 validation errors detected: "
        "Value null at 'name' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleArns' failed to satisfy constraint: Member must not be null"
    )
    portal = refused("sso", "GetRoleCredentials", {"roleName": "r", "accountId": "123456789012"})
    assert isinstance(portal, InvalidRequestException)
    assert portal.message == (
        "1 validation error detected: Value null at 'accessToken' failed to satisfy constraint: Member must not be null"
    )
    oidc = refused("sso-oidc", "CreateToken", {"clientId": "c"})
    assert isinstance(oidc, InvalidRequestException) and oidc.fields["error"] == "invalid_request"


def test_bad_enum_and_label_pattern() -> None:
    error = refused("rolesanywhere", "DeleteAttributeMapping", {"profileId": PROFILE, "certificateField": "nope"})
    assert isinstance(error, ValidationException)
    assert error.message == (
        "1 validation error detected: Value 'nope' at 'certificateField' failed to satisfy constraint: "
        "Member must satisfy enum value set: [x509Subject, x509Issuer, x509SAN]"
    )
    error = refused("rolesanywhere", "GetProfile", {"profileId": "not-a-uuid-but-36-characters-long-xx"})
    assert isinstance(error, ValidationException) and "at 'profileId'" in error.message


def test_other_protocols_are_refused() -> None:
    with pytest.raises(ValueError, match="not REST-JSON"):
        parse_rest_request(load_service("organizations"), "ListAccounts", {}, "", [], b"{}")


# --- answers --------------------------------------------------------------------------------------


def answer(service: str, operation: str, result: dict[str, Any] | None) -> tuple[WireResponse, dict[str, Any]]:
    wire = serialize_rest_result(load_service(service), operation, result, "rid-3")
    parsed = parse_answer(service, operation, wire)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == "rid-3" and metadata["HTTPStatusCode"] == wire.status
    return wire, parsed


def test_response_codes_and_bodies() -> None:
    profile = {
        "profileId": PROFILE,
        "name": "p",
        "enabled": True,
        "durationSeconds": 3600,
        "createdAt": datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC),
        "roleArns": ["arn:aws:iam::123456789012:role/r"],
    }
    wire, parsed = answer("rolesanywhere", "CreateProfile", {"profile": profile})
    assert wire.status == 201
    assert json.loads(wire.body)["profile"]["createdAt"] == "2024-01-02T03:04:05.123Z"
    assert ("Content-Type", "application/json") in wire.headers
    assert parsed == {"profile": profile}
    wire, parsed = answer("rolesanywhere", "GetProfile", {"profile": {**profile, "createdAt": WHEN}})
    assert wire.status == 200 and json.loads(wire.body)["profile"]["createdAt"] == "2024-01-02T03:04:05Z"
    wire, parsed = answer("rolesanywhere", "ListProfiles", {})
    assert (wire.status, wire.body, parsed) == (200, b"{}", {})


def test_portal_answers() -> None:
    credentials = {
        "roleCredentials": {
            "accessKeyId": "ASIAEXAMPLE",
            "secretAccessKey": "secret",
            "sessionToken": "token",
            "expiration": 1704164645000,
        }
    }
    assert answer("sso", "GetRoleCredentials", credentials)[1] == credentials
    wire, parsed = answer("sso", "Logout", None)
    assert (wire.status, wire.body, parsed) == (200, b"", {})
    tokens = {"accessToken": "a", "tokenType": "Bearer", "expiresIn": 3600, "refreshToken": "r", "idToken": "i"}
    assert answer("sso-oidc", "CreateToken", tokens)[1] == tokens


def test_result_bugs_are_type_errors() -> None:
    spec = load_service("rolesanywhere")
    with pytest.raises(TypeError, match="unknown member 'nope'"):
        serialize_rest_result(spec, "GetProfile", {"nope": 1}, "r")
    with pytest.raises(TypeError, match=r"profile\.enabled"):
        serialize_rest_result(spec, "GetProfile", {"profile": {"enabled": "yes"}}, "r")
    with pytest.raises(TypeError, match="no output"):
        serialize_rest_result(load_service("sso"), "Logout", {"x": 1}, "r")
    with pytest.raises(ValueError, match="no operation"):
        serialize_rest_result(spec, "Nope", None, "r")


def error_answer(service: str, error: AwsError) -> tuple[WireResponse, dict[str, Any]]:
    wire = serialize_rest_error(error, "rid-4", load_service(service))
    operation = next(iter(load_service(service).operations))
    return wire, parse_answer(service, operation, wire)


def test_modeled_errors() -> None:
    wire, parsed = error_answer("rolesanywhere", ValidationException("1 validation error detected: x"))
    assert wire.status == 400
    assert json.loads(wire.body) == {"message": "1 validation error detected: x"}
    assert dict(wire.headers) == {
        "x-amzn-RequestId": "rid-4",
        "x-amzn-ErrorType": "ValidationException",
        "Content-Type": "application/json",
    }
    assert parsed["Error"] == {"Code": "ValidationException", "Message": "1 validation error detected: x"}


def test_sso_oidc_oauth_errors() -> None:
    error = InvalidRequestException(
        "bad", error="invalid_request", error_description="bad", reason="KMS_AccessDeniedException"
    )
    wire, parsed = error_answer("sso-oidc", error)
    assert json.loads(wire.body) == {
        "error": "invalid_request",
        "reason": "KMS_AccessDeniedException",
        "error_description": "bad",
    }
    assert parsed["Error"]["Code"] == "InvalidRequestException"
    assert (parsed["error"], parsed["error_description"]) == ("invalid_request", "bad")


def test_unmodeled_errors() -> None:
    for error in (
        SerializationException("bad"),
        UnknownOperationPath("no route"),
        AccessDenied("no"),
        UnsupportedMediaTypeException("x"),
    ):
        wire, parsed = error_answer("sso", error)
        assert wire.status == error.status
        assert json.loads(wire.body) == {"message": error.message}
        assert parsed["Error"] == {"Code": error.code, "Message": error.message}
    wire = serialize_rest_error(UnknownOperationPath("x"), "r")
    assert wire.status == 404 and ("x-amzn-ErrorType", "UnknownOperationException") in wire.headers


# --- every location and payload kind, on a synthetic model ----------------------------------------

SYNTHETIC: dict[str, Any] = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "protocol": "rest-json",
        "endpointPrefix": "synthetic",
        "serviceId": "Synthetic",
        "signatureVersion": "v4",
    },
    "operations": {
        "Everything": {
            "name": "Everything",
            "http": {"method": "POST", "requestUri": "/things/{Id}/{When}/{Count}/{Flag}", "responseCode": 202},
            "input": {"shape": "EverythingInput"},
            "output": {"shape": "EverythingOutput"},
        },
        "Upload": {
            "name": "Upload",
            "http": {"method": "PUT", "requestUri": "/blob/{Id}"},
            "input": {"shape": "UploadInput"},
            "output": {"shape": "UploadOutput"},
        },
        "PutDoc": {
            "name": "PutDoc",
            "http": {"method": "PUT", "requestUri": "/doc"},
            "input": {"shape": "PutDocInput"},
            "output": {"shape": "PutDocInput"},
        },
        "PutText": {
            "name": "PutText",
            "http": {"method": "PUT", "requestUri": "/text"},
            "input": {"shape": "PutTextInput"},
            "output": {"shape": "PutTextInput"},
        },
        "Search": {
            "name": "Search",
            "http": {"method": "GET", "requestUri": "/search"},
            "input": {"shape": "SearchInput"},
        },
    },
    "shapes": {
        "EverythingInput": {
            "type": "structure",
            "required": ["Id", "When", "Count", "Flag"],
            "members": {
                "Id": {"shape": "Str", "location": "uri", "locationName": "Id"},
                "When": {"shape": "Time", "location": "uri", "locationName": "When"},
                "Count": {"shape": "Int", "location": "uri", "locationName": "Count"},
                "Flag": {"shape": "Bool", "location": "uri", "locationName": "Flag"},
                "Tags": {"shape": "Strs", "location": "querystring", "locationName": "tag"},
                "Limit": {"shape": "Int", "location": "querystring", "locationName": "limit"},
                "Since": {"shape": "Time", "location": "querystring", "locationName": "since"},
                "Epoch": {
                    "shape": "Time",
                    "location": "querystring",
                    "locationName": "epoch",
                    "timestampFormat": "unixTimestamp",
                },
                "Enabled": {"shape": "Bool", "location": "querystring", "locationName": "enabled"},
                "Ratio": {"shape": "Dbl", "location": "querystring", "locationName": "ratio"},
                "Token": {"shape": "Str", "location": "header", "locationName": "X-Token"},
                "Stamp": {"shape": "Time", "location": "header", "locationName": "X-Stamp"},
                "Numbers": {"shape": "Ints", "location": "header", "locationName": "X-Numbers"},
                "Names": {"shape": "Strs", "location": "header", "locationName": "X-Names"},
                "Yes": {"shape": "Bool", "location": "header", "locationName": "X-Yes"},
                "Big": {"shape": "Long", "location": "header", "locationName": "X-Big"},
                "Json": {"shape": "Str", "location": "header", "locationName": "X-Json", "jsonvalue": True},
                "Meta": {"shape": "StrMap", "location": "headers", "locationName": "x-meta-"},
                "Name": {"shape": "Str"},
                "Nested": {"shape": "Nested"},
                "Data": {"shape": "Blob"},
                "Renamed": {"shape": "Str", "locationName": "renamed_in_body"},
            },
        },
        "EverythingOutput": {
            "type": "structure",
            "members": {
                "Status": {"shape": "Int", "location": "statusCode"},
                "Token": {"shape": "Str", "location": "header", "locationName": "X-Token"},
                "Stamp": {"shape": "Time", "location": "header", "locationName": "X-Stamp"},
                "Numbers": {"shape": "Ints", "location": "header", "locationName": "X-Numbers"},
                "Yes": {"shape": "Bool", "location": "header", "locationName": "X-Yes"},
                "Json": {"shape": "Str", "location": "header", "locationName": "X-Json", "jsonvalue": True},
                "Meta": {"shape": "StrMap", "location": "headers", "locationName": "x-meta-"},
                "Name": {"shape": "Str"},
                "Nested": {"shape": "Nested"},
            },
        },
        "UploadInput": {
            "type": "structure",
            "required": ["Id"],
            "payload": "Body",
            "members": {
                "Id": {"shape": "Str", "location": "uri", "locationName": "Id"},
                "Body": {"shape": "Blob"},
            },
        },
        "UploadOutput": {
            "type": "structure",
            "payload": "Body",
            "members": {
                "Body": {"shape": "Blob"},
                "Size": {"shape": "Long", "location": "header", "locationName": "X-Size"},
            },
        },
        "PutDocInput": {"type": "structure", "payload": "Doc", "members": {"Doc": {"shape": "Nested"}}},
        "PutTextInput": {"type": "structure", "payload": "Text", "members": {"Text": {"shape": "Str"}}},
        "SearchInput": {
            "type": "structure",
            "members": {
                "Query": {"shape": "Str", "location": "querystring", "locationName": "q"},
                "Rest": {"shape": "QueryMap", "location": "querystring"},
            },
        },
        "Nested": {"type": "structure", "members": {"Value": {"shape": "Str"}, "At": {"shape": "Time"}}},
        "Str": {"type": "string"},
        "Strs": {"type": "list", "member": {"shape": "Str"}},
        "Int": {"type": "integer"},
        "Ints": {"type": "list", "member": {"shape": "Int"}},
        "Long": {"type": "long"},
        "Bool": {"type": "boolean"},
        "Dbl": {"type": "double"},
        "Time": {"type": "timestamp"},
        "Blob": {"type": "blob"},
        "StrMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Str"}},
        "QueryMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Strs"}},
    },
}
SPEC = ServiceSpec("synthetic-rest", SYNTHETIC)
BOTO = ServiceModel(SYNTHETIC, service_name="synthetic-rest")


def synthetic_request(operation: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    request = create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, BOTO.operation_model(operation)
    )
    prepare_request_dict(request, endpoint_url="https://x.test")
    prepared = AWSRequest(
        method=request["method"], url=request["url"], data=request["body"], headers=request["headers"]
    ).prepare()
    path, _, query = prepared.url.removeprefix("https://x.test").partition("?")
    body = prepared.body or b""
    headers = [(k, v if isinstance(v, str) else v.decode()) for k, v in prepared.headers.items()]
    routed, labels = RestRouter(SPEC).match(prepared.method, path, query)
    return routed, parse_rest_request(
        SPEC, routed, labels, query, headers, body if isinstance(body, bytes) else body.encode()
    )


def synthetic_answer(operation: str, result: dict[str, Any]) -> tuple[WireResponse, dict[str, Any]]:
    wire = serialize_rest_result(SPEC, operation, result, "r")
    response = {"status_code": wire.status, "headers": HTTPHeaderDict(wire.headers), "body": wire.body}
    parsed: dict[str, Any] = create_parser("rest-json").parse(response, BOTO.operation_model(operation).output_shape)
    parsed.pop("ResponseMetadata")
    return wire, parsed


def test_every_location_round_trips() -> None:
    params = {
        "Id": "a/b c",
        "When": WHEN,
        "Count": -7,
        "Flag": False,
        "Tags": ["x", "y y", "日本"],
        "Limit": 10,
        "Since": WHEN,
        "Epoch": WHEN,
        "Enabled": True,
        "Ratio": 0.25,
        "Token": "tok",
        "Stamp": WHEN,
        "Numbers": [1, -2, 3],
        "Names": ["a", "b c"],
        "Yes": True,
        "Big": 2**40,
        "Json": {"k": [1, "two", None]},
        "Meta": {"color": "blue", "size": "L"},
        "Name": "n",
        "Nested": {"Value": "v", "At": WHEN},
        "Data": b"\x00\x01",
        "Renamed": "r",
    }
    assert synthetic_request("Everything", params) == ("Everything", params)


def test_payload_members() -> None:
    assert synthetic_request("Upload", {"Id": "1", "Body": b"\x00binary\xff"}) == (
        "Upload",
        {"Id": "1", "Body": b"\x00binary\xff"},
    )
    assert synthetic_request("Upload", {"Id": "1"}) == ("Upload", {"Id": "1"})
    assert synthetic_request("PutDoc", {"Doc": {"Value": "v", "At": WHEN}}) == (
        "PutDoc",
        {"Doc": {"Value": "v", "At": WHEN}},
    )
    # botocore sends "{}" for an absent structure payload: it reads as an empty structure.
    assert synthetic_request("PutDoc", {}) == ("PutDoc", {"Doc": {}})
    assert parse_rest_request(SPEC, "PutDoc", {}, "", [], b"") == {}
    assert synthetic_request("PutText", {"Text": "héllo"}) == ("PutText", {"Text": "héllo"})


def test_query_map_collects_unbound_parameters() -> None:
    params = {"Query": "q", "Rest": {"a": ["1", "2"], "b": ["x"]}}
    assert synthetic_request("Search", params) == ("Search", params)
    assert parse_rest_request(SPEC, "Search", {}, "q=1&z=2&z=3", [], b"") == {"Query": "1", "Rest": {"z": ["2", "3"]}}


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ({"Id": "i", "When": "yesterday", "Count": "1", "Flag": "true"}, "iso8601"),
        ({"Id": "i", "When": "2024-01-02T03:04:05Z", "Count": "one", "Flag": "true"}, "integer"),
        ({"Id": "i", "When": "2024-01-02T03:04:05Z", "Count": "1", "Flag": "yes"}, "true or false"),
    ],
)
def test_bad_label_values(labels: dict[str, str], problem: str) -> None:
    with pytest.raises(SerializationException, match=problem):
        parse_rest_request(SPEC, "Everything", labels, "", [], b"")


LABELS = {"Id": "i", "When": "2024-01-02T03:04:05Z", "Count": "1", "Flag": "true"}


@pytest.mark.parametrize(
    ("query", "headers", "problem"),
    [
        ("epoch=soon", [], "unixTimestamp"),
        ("ratio=1_0", [], "number"),
        ("", [("x-stamp", "2024-01-02")], "rfc822"),
        ("", [("x-numbers", "1,x")], "integer"),
        ("", [("x-json", "not base64!")], "base64-encoded JSON"),
        ("", [("x-yes", "TRUE")], "true or false"),
    ],
)
def test_bad_query_and_header_values(query: str, headers: list[tuple[str, str]], problem: str) -> None:
    with pytest.raises(SerializationException, match=problem):
        parse_rest_request(SPEC, "Everything", LABELS, query, headers, b"")


def test_special_floats_in_the_query() -> None:
    inputs = parse_rest_request(SPEC, "Everything", LABELS, "ratio=-Infinity", [], b"")
    assert inputs["Ratio"] == float("-inf")


def test_header_lists() -> None:
    assert split_header_list('a, "b,c", "d\\"e" ,f,,') == ["a", "b,c", 'd"e', "f", ""]
    assert split_header_list("") == []
    inputs = parse_rest_request(SPEC, "Everything", LABELS, "", [("x-names", '"x,y", z'), ("X-Names", "w")], b"")
    assert inputs["Names"] == ["x,y", "z", "w"]


def test_output_locations() -> None:
    result = {
        "Status": 299,
        "Token": "t",
        "Stamp": WHEN,
        "Numbers": [1, 2],
        "Yes": False,
        "Json": {"a": 1},
        "Meta": {"color": "blue"},
        "Name": "n",
        "Nested": {"Value": "v", "At": WHEN},
    }
    wire, parsed = synthetic_answer("Everything", result)
    assert wire.status == 299
    headers = dict(wire.headers)
    assert headers["X-Stamp"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert headers["X-Numbers"] == "1,2" and headers["X-Yes"] == "false" and headers["x-meta-color"] == "blue"
    assert json.loads(wire.body) == {"Name": "n", "Nested": {"Value": "v", "At": 1704164645}}
    assert parsed == result
    wire, parsed = synthetic_answer("Everything", {"Name": "n"})
    assert wire.status == 202 and parsed == {"Status": 202, "Name": "n", "Meta": {}}  # botocore's empty header map


def test_output_payloads() -> None:
    wire = serialize_rest_result(SPEC, "Upload", {"Body": b"\x00\xff", "Size": 2}, "r")
    assert (wire.body, dict(wire.headers)["Content-Type"]) == (b"\x00\xff", "application/octet-stream")
    # botocore reads a blob payload as a stream; handed bytes, it decodes them as text.
    wire, parsed = synthetic_answer("Upload", {"Body": b"bytes", "Size": 5})
    assert parsed == {"Body": "bytes", "Size": 5}
    wire, parsed = synthetic_answer("Upload", {})
    assert wire.body == b"" and "Content-Type" not in dict(wire.headers)
    wire, parsed = synthetic_answer("PutDoc", {"Doc": {"Value": "v"}})
    assert (wire.body, parsed) == (b'{"Value":"v"}', {"Doc": {"Value": "v"}})
    wire, parsed = synthetic_answer("PutText", {"Text": "héllo"})
    assert (wire.body, dict(wire.headers)["Content-Type"]) == ("héllo".encode(), "text/plain")
    assert parsed == {"Text": "héllo"}


def test_portal_query_range_is_an_invalid_request() -> None:
    # The portal's model has no ValidationException: its invalid input is an InvalidRequestException.
    with pytest.raises(InvalidRequestException) as info:
        direct("sso", "ListAccounts", query="max_result=0", headers=[("x-amz-sso_bearer_token", "t")])
    assert "at 'maxResults'" in info.value.message and "greater than or equal to 1" in info.value.message
