"""Real boto3 clients of the JSON and REST-JSON services, their HTTP layer replaced by ours.

``before-send`` hands the fake endpoint the request botocore built and signed (or left
unsigned); the endpoint routes it the way the pipeline will (signed: by the SigV4 scope's
service; unsigned: by path over the REST services; JSON: by X-Amz-Target), parses it, calls a
test handler and serializes the answer, so botocore's whole response path runs: parsing,
modeled exceptions, pagination.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from iamd.core.errors import AwsError, AwsErrorWithFields, MissingAuthenticationToken, SignatureDoesNotMatch
from iamd.web.protocol.json_codec import WireResponse
from iamd.web.protocol.json_protocol import (
    json_response_headers,
    parse_json_request,
    serialize_json_error,
    serialize_json_result,
)
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.rest_json import parse_rest_request, serialize_rest_error, serialize_rest_result
from iamd.web.protocol.rest_router import RestRouter, router_for

SERVICES = ("organizations", "identitystore", "sso-admin", "rolesanywhere", "sso", "sso-oidc")
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
Handler = Callable[[str, str, dict[str, Any]], Mapping[str, Any] | None]
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


class AuthorizationPending(AwsErrorWithFields):
    """Stands in for the error class the SSO-OIDC service will add."""

    code = "AuthorizationPendingException"
    status = 400
    sender_fault = True


class ResourceNotFound(AwsErrorWithFields):
    code = "ResourceNotFoundException"
    status = 404
    sender_fault = True


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FakeEndpoint:
    def __init__(self) -> None:
        specs = [load_service(name) for name in SERVICES]
        self.by_signing_name = {spec.signing_name: spec for spec in specs}
        with_unsigned = [
            s for s in specs if s.protocol == "rest-json" and any(o.unsigned for o in s.operations.values())
        ]
        self.unsigned_router = RestRouter.combined(with_unsigned)
        self.handler: Handler = lambda service, operation, inputs: None
        self.calls: list[tuple[str, str, dict[str, Any], bool]] = []

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        headers = [(k.lower(), v if isinstance(v, str) else v.decode()) for k, v in request.headers.items()]
        header = dict(headers)
        body = request.body or b""
        raw = body if isinstance(body, bytes) else body.encode()
        spec: ServiceSpec | None = None
        try:
            authorization = header.get("authorization")
            if authorization is not None:
                found = _SCOPE.search(authorization)
                spec = self.by_signing_name.get(found.group(1)) if found else None
                if spec is None:
                    raise SignatureDoesNotMatch("Credential should be scoped to a valid service.")
                if spec.protocol == "json":
                    operation, inputs = parse_json_request(
                        spec, header.get("x-amz-target"), raw, content_type=header.get("content-type")
                    )
                else:
                    operation, labels = router_for(spec).match(request.method, url.path, url.query)
                    inputs = parse_rest_request(spec, operation, labels, url.query, headers, raw)
            else:
                route, labels = self.unsigned_router.resolve(request.method, url.path, url.query)
                spec = load_service(route.service)
                operation = route.operation
                if not spec.operations[operation].unsigned:
                    raise MissingAuthenticationToken()
                inputs = parse_rest_request(spec, operation, labels, url.query, headers, raw)
            self.calls.append((spec.name, operation, inputs, authorization is not None))
            result = self.handler(spec.name, operation, inputs)
            if spec.protocol == "json":
                wire = WireResponse(
                    200, json_response_headers(spec, "req-7"), serialize_json_result(spec, operation, result)
                )
            else:
                wire = serialize_rest_result(spec, operation, result, "req-7")
        except AwsError as err:
            if spec is not None and spec.protocol == "json":
                wire = serialize_json_error(err, "req-7", spec)
            else:
                wire = serialize_rest_error(err, "req-7", spec)
        return AWSResponse(request.url, wire.status, dict(wire.headers), _Raw(wire.body))


@pytest.fixture
def endpoint() -> FakeEndpoint:
    return FakeEndpoint()


def client(service: str, endpoint: FakeEndpoint, **config: Any) -> Any:
    made = boto3.client(
        service,
        region_name="eu-west-1",
        endpoint_url="https://iamd.test",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, **config),
    )
    made.meta.events.register("before-send", endpoint)
    return made


def test_organizations(endpoint: FakeEndpoint) -> None:
    account = {"Id": "123456789012", "Name": "Prod", "Status": "ACTIVE", "JoinedTimestamp": WHEN}
    endpoint.handler = lambda service, operation, inputs: {"Account": account}
    org = client("organizations", endpoint)
    answer = org.describe_account(AccountId="123456789012")
    assert answer["Account"] == account
    assert answer["ResponseMetadata"]["RequestId"] == "req-7"
    assert endpoint.calls == [("organizations", "DescribeAccount", {"AccountId": "123456789012"}, True)]


def test_organizations_invalid_input(endpoint: FakeEndpoint) -> None:
    org = client("organizations", endpoint, parameter_validation=False)
    with pytest.raises(org.exceptions.InvalidInputException) as info:
        org.describe_account(AccountId="12")
    error = info.value.response
    assert error["Error"] == {
        "Code": "InvalidInputException",
        "Message": "You provided a value that does not match the required pattern.",
    }
    assert error["Reason"] == "INVALID_PATTERN"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert endpoint.calls == []


def test_organizations_operation_without_input_or_output(endpoint: FakeEndpoint) -> None:
    org = client("organizations", endpoint)
    assert org.delete_organization()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert endpoint.calls == [("organizations", "DeleteOrganization", {}, True)]


def test_identity_store_unions_and_documents(endpoint: FakeEndpoint) -> None:
    endpoint.handler = lambda service, operation, inputs: {"UserId": "u-1", "IdentityStoreId": "d-1234567890"}
    ids = client("identitystore", endpoint)
    answer = ids.get_user_id(
        IdentityStoreId="d-1234567890",
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "emails.value", "AttributeValue": "jane@example.com"}
        },
    )
    assert answer["UserId"] == "u-1"
    assert endpoint.calls[0][2]["AlternateIdentifier"] == {
        "UniqueAttribute": {"AttributePath": "emails.value", "AttributeValue": "jane@example.com"}
    }


def test_identity_store_validation_exception(endpoint: FakeEndpoint) -> None:
    ids = client("identitystore", endpoint, parameter_validation=False)
    with pytest.raises(ids.exceptions.ValidationException) as info:
        ids.describe_user(IdentityStoreId="d-1234567890", UserId="")
    user_id = load_service("identitystore").compiled("ResourceId")
    assert info.value.response["Error"]["Message"] == (
        "2 validation errors detected: Value '' at 'userId' failed to satisfy constraint: Member must satisfy "
        f"regular expression pattern: {user_id.pattern_text}; Value '' at 'userId' failed to satisfy constraint: "
        f"Member must have length greater than or equal to {user_id.min}"
    )


def test_sso_admin_output_less_operation(endpoint: FakeEndpoint) -> None:
    admin = client("sso-admin", endpoint)
    arn = "arn:aws:sso::123456789012:application/ssoins-1234567890abcdef/apl-1234567890abcdef"
    admin.put_application_grant(ApplicationArn=arn, GrantType="refresh_token", Grant={"RefreshToken": {}})
    assert endpoint.calls == [
        (
            "sso-admin",
            "PutApplicationGrant",
            {"ApplicationArn": arn, "GrantType": "refresh_token", "Grant": {"RefreshToken": {}}},
            True,
        )
    ]


def test_roles_anywhere(endpoint: FakeEndpoint) -> None:
    profile = {"profileId": "a1b2c3d4-5678-90ab-cdef-222222222222", "name": "p", "createdAt": WHEN, "enabled": True}
    endpoint.handler = lambda service, operation, inputs: {"profile": profile}
    ra = client("rolesanywhere", endpoint)
    answer = ra.create_profile(
        name="p", roleArns=["arn:aws:iam::123456789012:role/r"], tags=[{"key": "k", "value": "v"}]
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert answer["profile"] == profile
    assert endpoint.calls[0][:2] == ("rolesanywhere", "CreateProfile")


def test_roles_anywhere_modeled_errors(endpoint: FakeEndpoint) -> None:
    def missing(service: str, operation: str, inputs: dict[str, Any]) -> None:
        raise ResourceNotFound("Resource not found.")

    endpoint.handler = missing
    ra = client("rolesanywhere", endpoint)
    with pytest.raises(ra.exceptions.ResourceNotFoundException) as info:
        ra.get_trust_anchor(trustAnchorId="a1b2c3d4-5678-90ab-cdef-111111111111")
    assert info.value.response["Error"] == {"Code": "ResourceNotFoundException", "Message": "Resource not found."}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ra.exceptions.ValidationException):
        client("rolesanywhere", endpoint, parameter_validation=False).get_trust_anchor(trustAnchorId="x" * 36)


def test_sso_portal_is_unsigned_and_paginates(endpoint: FakeEndpoint) -> None:
    pages = {
        None: {"accountList": [{"accountId": "111111111111", "accountName": "a"}], "nextToken": "p2"},
        "p2": {"accountList": [{"accountId": "222222222222", "accountName": "b", "emailAddress": "b@example.com"}]},
    }
    endpoint.handler = lambda service, operation, inputs: pages[inputs.get("nextToken")]
    portal = client("sso", endpoint)
    accounts = [
        account["accountId"]
        for page in portal.get_paginator("list_accounts").paginate(
            accessToken="bearer-token", PaginationConfig={"PageSize": 1}
        )
        for account in page["accountList"]
    ]
    assert accounts == ["111111111111", "222222222222"]
    assert [call[2] for call in endpoint.calls] == [
        {"accessToken": "bearer-token", "maxResults": 1},
        {"accessToken": "bearer-token", "maxResults": 1, "nextToken": "p2"},
    ]
    assert all(not signed for *_, signed in endpoint.calls)


def test_sso_portal_credentials_and_invalid_request(endpoint: FakeEndpoint) -> None:
    credentials = {"accessKeyId": "ASIAX", "secretAccessKey": "s", "sessionToken": "t", "expiration": 1704164645000}
    endpoint.handler = lambda service, operation, inputs: (
        {"roleCredentials": credentials} if operation == "GetRoleCredentials" else None
    )
    portal = client("sso", endpoint)
    assert (
        portal.get_role_credentials(roleName="Admin", accountId="123456789012", accessToken="tok")["roleCredentials"]
        == credentials
    )
    assert portal.logout(accessToken="tok")["ResponseMetadata"]["HTTPStatusCode"] == 200
    loose = client("sso", endpoint, parameter_validation=False)
    with pytest.raises(loose.exceptions.InvalidRequestException) as info:
        loose.list_accounts(accessToken="tok", maxResults=0)
    assert "at 'maxResults'" in info.value.response["Error"]["Message"]


def test_sso_oidc_device_flow(endpoint: FakeEndpoint) -> None:
    def device_flow(service: str, operation: str, inputs: dict[str, Any]) -> Mapping[str, Any]:
        if operation == "RegisterClient":
            return {"clientId": "cid", "clientSecret": "secret", "clientSecretExpiresAt": 1704164645}
        if operation == "StartDeviceAuthorization":
            return {"deviceCode": "dc", "userCode": "ABCD-EFGH", "verificationUri": "https://x", "interval": 5}
        raise AuthorizationPending(error="authorization_pending", error_description="Authorization is still pending")

    endpoint.handler = device_flow
    oidc = client("sso-oidc", endpoint)
    registered = oidc.register_client(clientName="cli", clientType="public")
    started = oidc.start_device_authorization(
        clientId=registered["clientId"], clientSecret=registered["clientSecret"], startUrl="https://start"
    )
    assert started["userCode"] == "ABCD-EFGH"
    with pytest.raises(oidc.exceptions.AuthorizationPendingException) as info:
        oidc.create_token(
            clientId="cid",
            clientSecret="secret",
            grantType="urn:ietf:params:oauth:grant-type:device_code",
            deviceCode=started["deviceCode"],
        )
    response = info.value.response
    assert response["Error"]["Code"] == "AuthorizationPendingException"
    # OAuth errors carry no message member; newer botocore shows error_description instead.
    assert response["Error"]["Message"] in ("", "Authorization is still pending")
    assert (response["error"], response["error_description"]) == (
        "authorization_pending",
        "Authorization is still pending",
    )
    assert [(c[1], c[3]) for c in endpoint.calls] == [
        ("RegisterClient", False),
        ("StartDeviceAuthorization", False),
        ("CreateToken", False),
    ]


def test_sso_oidc_signed_operation_routes_by_scope(endpoint: FakeEndpoint) -> None:
    endpoint.handler = lambda service, operation, inputs: {"accessToken": "a", "tokenType": "Bearer"}
    oidc = client("sso-oidc", endpoint)
    assert oidc.create_token_with_iam(clientId="c", grantType="authorization_code", code="x")["accessToken"] == "a"
    assert endpoint.calls[-1][1:] == (
        "CreateTokenWithIAM",
        {"clientId": "c", "grantType": "authorization_code", "code": "x"},
        True,
    )


def test_unsigned_request_to_a_signed_operation(endpoint: FakeEndpoint) -> None:
    request = AWSPreparedRequest("POST", "https://iamd.test/token?aws_iam=t", {}, b"{}", False)
    endpoint.unsigned_router = RestRouter.combined([load_service("sso-oidc")])
    answer = endpoint(request)
    # An unsigned /token?aws_iam=t is CreateToken's path too: the most specific route is signed.
    assert answer.status_code == 403
    assert json.loads(answer.content) == {"message": "Request is missing Authentication Token"}


def test_errors_reach_clients_as_client_errors(endpoint: FakeEndpoint) -> None:
    org = client("organizations", endpoint)

    def broken(service: str, operation: str, inputs: dict[str, Any]) -> None:
        raise SignatureDoesNotMatch()

    endpoint.handler = broken
    with pytest.raises(ClientError) as info:
        org.list_roots()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
