"""ServiceSpec and Shape on the JSON and REST-JSON models (the Query side: test_model.py)."""

from __future__ import annotations

from typing import Any

import pytest

from iamd.web.protocol.model import AUTH_BEARER, AUTH_NONE, AUTH_SIGV4, ServiceSpec, load_service

SIX = ("organizations", "identitystore", "rolesanywhere", "sso", "sso-oidc", "sso-admin")


def test_metadata_of_the_json_and_rest_services() -> None:
    org = load_service("organizations")
    assert (org.protocol, org.target_prefix, org.json_version) == ("json", "AWSOrganizationsV20161128", "1.1")
    assert (org.endpoint_prefix, org.signing_name, org.xml_namespace) == ("organizations", "organizations", "")
    ids = load_service("identitystore")
    assert (ids.protocol, ids.target_prefix, ids.signing_name) == ("json", "AWSIdentityStore", "identitystore")
    admin = load_service("sso-admin")
    assert (admin.target_prefix, admin.endpoint_prefix, admin.signing_name) == ("SWBExternalService", "sso", "sso")
    ra = load_service("rolesanywhere")
    assert (ra.protocol, ra.target_prefix, ra.signing_name) == ("rest-json", None, "rolesanywhere")
    portal = load_service("sso")
    assert (portal.protocol, portal.endpoint_prefix, portal.signing_name) == ("rest-json", "portal.sso", "awsssoportal")
    oidc = load_service("sso-oidc")
    assert (oidc.endpoint_prefix, oidc.signing_name) == ("oidc", "sso-oauth")
    assert load_service("iam").protocol == "query"


def test_http_traits_and_auth() -> None:
    ra = load_service("rolesanywhere")
    create = ra.operations["CreateProfile"]
    assert (create.http_method, create.request_uri, create.response_code) == ("POST", "/profiles", 201)
    get = ra.operations["GetTrustAnchor"]
    assert (get.http_method, get.request_uri, get.response_code) == ("GET", "/trustanchor/{trustAnchorId}", 200)
    assert get.auth_type == AUTH_SIGV4 and not get.unsigned

    portal = load_service("sso")
    assert {op.auth_type for op in portal.operations.values()} == {AUTH_NONE}
    creds = portal.operations["GetRoleCredentials"]
    assert (creds.http_method, creds.request_uri, creds.response_code) == ("GET", "/federation/credentials", 200)
    assert creds.unsigned

    oidc = load_service("sso-oidc")
    assert {name for name, op in oidc.operations.items() if op.unsigned} == {
        "RegisterClient",
        "StartDeviceAuthorization",
        "CreateToken",
    }
    assert oidc.operations["CreateTokenWithIAM"].request_uri == "/token?aws_iam=t"

    sts = load_service("sts")
    assert sts.operations["AssumeRoleWithWebIdentity"].unsigned
    assert not sts.operations["AssumeRole"].unsigned
    org = load_service("organizations")
    assert {(op.http_method, op.request_uri) for op in org.operations.values()} == {("POST", "/")}


def test_member_locations_and_names() -> None:
    portal = load_service("sso")
    request = portal.compiled("GetRoleCredentialsRequest")
    token = request.members["accessToken"]
    assert (token.location, token.location_name) == ("header", "x-amz-sso_bearer_token")
    assert token.shape.sensitive
    role = request.members["roleName"]
    assert (role.location, role.location_name, role.label) == ("querystring", "role_name", "roleName")
    assert request.body_members == ()
    ra = load_service("rolesanywhere")
    update = ra.compiled("UpdateTrustAnchorRequest")
    assert update.members["trustAnchorId"].location == "uri"
    body = [m.name for m in update.body_members]
    assert {"name", "source"} <= set(body) and "trustAnchorId" not in body
    assert update.members["name"].json_key == "name"
    detail = ra.compiled("TrustAnchorDetail")
    assert detail.members["createdAt"].timestamp_format == "iso8601"


def test_shape_traits() -> None:
    ids = load_service("identitystore")
    assert ids.compiled("AlternateIdentifier").union
    assert ids.compiled("AttributeValue").document
    assert not ids.compiled("UniqueAttribute").union
    admin = load_service("sso-admin")
    token = admin.compiled("CreateApplicationRequest").members["ClientToken"]
    assert token.idempotency_token
    assert not admin.compiled("CreateApplicationRequest").members["Name"].idempotency_token


@pytest.mark.parametrize("service", SIX)
def test_error_shapes_by_code(service: str) -> None:
    spec = load_service(service)
    exceptions = [name for name in spec._shapes if spec.shape(name).get("exception")]
    assert exceptions
    for name in exceptions:
        shape = spec.error_shape(name)
        assert shape is not None and shape.exception and shape.error_code == name
    assert spec.error_shape("NoSuchError") is None


def test_error_code_and_status_from_the_error_trait() -> None:
    iam = load_service("iam")
    entity = iam.error_shape("EntityAlreadyExists")
    assert entity is not None and entity.name == "EntityAlreadyExistsException" and entity.error_status == 409
    oidc = load_service("sso-oidc")
    client = oidc.error_shape("InvalidClientException")
    assert client is not None and client.error_status == 401
    assert list(client.members) == ["error", "error_description"]


def test_loading_compiles_nothing_until_asked() -> None:
    from botocore.loaders import Loader

    spec = ServiceSpec("sso-admin", Loader().load_service_model("sso-admin", "service-2"))
    assert spec._compiled == {}
    assert len(spec.operations) > 70
    spec.compiled("CreateApplicationRequest")
    assert "CreateApplicationRequest" in spec._compiled
    assert "DescribeApplicationRequest" not in spec._compiled


def _model(**op: Any) -> dict[str, Any]:
    return {
        "metadata": {"apiVersion": "2020-01-01", "protocol": "rest-json"},
        "operations": {"Op": {"name": "Op", "http": {"method": "GET", "requestUri": "/x"}, **op}},
        "shapes": {},
    }


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({}, AUTH_SIGV4),
        ({"authtype": "none"}, AUTH_NONE),
        ({"auth": ["smithy.api#noAuth"]}, AUTH_NONE),
        ({"authtype": "v4-unsigned-body"}, AUTH_SIGV4),
        ({"auth": ["smithy.api#httpBearerAuth"]}, AUTH_BEARER),
        ({"authtype": "bearer"}, AUTH_BEARER),
        ({"auth": ["aws.auth#sigv4", "smithy.api#noAuth"]}, AUTH_SIGV4),
    ],
)
def test_auth_type_normalization(traits: dict[str, Any], expected: str) -> None:
    spec = ServiceSpec("x", _model(**traits))
    assert spec.operations["Op"].auth_type == expected
    assert spec.operations["Op"].unsigned == (expected != AUTH_SIGV4)
    assert spec.signing_name == spec.endpoint_prefix == "x"


def test_member_traits_override_the_target_shape() -> None:
    spec = ServiceSpec(
        "x",
        {
            "metadata": {"apiVersion": "2020-01-01", "protocol": "json", "targetPrefix": "X", "jsonVersion": "1.0"},
            "operations": {},
            "shapes": {
                "S": {
                    "type": "structure",
                    "payload": "B",
                    "members": {
                        "A": {"shape": "T", "timestampFormat": "rfc822", "locationName": "a"},
                        "B": {"shape": "T"},
                        "C": {"shape": "Str", "location": "header", "locationName": "X-C", "jsonvalue": True},
                        "D": {"shape": "Str", "location": "uri", "locationName": "d", "hostLabel": True},
                    },
                },
                "T": {"type": "timestamp", "timestampFormat": "iso8601"},
                "Str": {"type": "string"},
            },
        },
    )
    shape = spec.compiled("S")
    assert shape.payload == "B"
    a, b, c, d = (shape.members[n] for n in "ABCD")
    assert (a.timestamp_format, a.json_key, a.location) == ("rfc822", "a", None)
    assert (b.timestamp_format, b.json_key) == ("iso8601", "B")
    assert c.json_value and c.location == "header" and c.location_name == "X-C"
    assert d.host_label and not c.host_label
    assert set(shape.members_by_json) == {"a", "B", "X-C", "d"}
    assert [m.name for m in shape.body_members] == ["A", "B"]
