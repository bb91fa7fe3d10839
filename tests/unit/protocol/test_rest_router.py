"""REST routing from the models' ``http`` traits, driven by URLs botocore builds."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.model import ServiceModel
from botocore.serialize import create_serializer

from iamd.core.errors import SerializationException, UnknownOperationException, UnknownOperationPath
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.rest_router import GREEDY, LABEL, LITERAL, RestRouter, compile_route, query_pairs, router_for
from tests.unit.protocol.botocore_wire import wire_request

REST_SERVICES = ("rolesanywhere", "sso", "sso-oidc")


def _label_params(spec: ServiceSpec, operation: str, value: str = "some-id") -> dict[str, Any]:
    op = spec.operations[operation]
    if op.input_shape is None:
        return {}
    shape = spec.compiled(op.input_shape)
    return {name: value for name, member in shape.members.items() if member.location == "uri"}


@pytest.mark.parametrize("service", REST_SERVICES)
def test_every_operation_routes_back_to_itself(service: str) -> None:
    spec = load_service(service)
    router = router_for(spec)
    assert router_for(spec) is router
    assert len(router.routes) == len(spec.operations)
    for name in spec.operations:
        params = _label_params(spec, name)
        request = wire_request(service, name, params, validate=False)
        operation, labels = router.match(request.method, request.path, request.query)
        assert operation == name, (request.method, request.path, request.query)
        shape_name = spec.operations[name].input_shape
        expected = {}
        if shape_name is not None:
            shape = spec.compiled(shape_name)
            expected = {shape.members[m].location_name: v for m, v in params.items()}
        assert labels == expected


def test_query_literal_selects_the_operation() -> None:
    router = router_for(load_service("sso-oidc"))
    assert router.match("POST", "/token", "aws_iam=t") == ("CreateTokenWithIAM", {})
    assert router.match("POST", "/token", "x=1&aws_iam=t") == ("CreateTokenWithIAM", {})
    assert router.match("POST", "/token", "") == ("CreateToken", {})
    assert router.match("POST", "/token", "aws_iam=f") == ("CreateToken", {})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing"),
        ("PUT", "/profiles"),
        ("GET", "/profile/"),
        ("GET", "/profile//disable"),
        ("GET", "/profiles/"),
        ("GET", ""),
        ("GET", "profiles"),
        ("POST", "/trustanchor/x/y/enable"),
    ],
)
def test_unknown_paths(method: str, path: str) -> None:
    with pytest.raises(UnknownOperationPath) as info:
        router_for(load_service("rolesanywhere")).match(method, path)
    error = info.value
    assert isinstance(error, UnknownOperationException)
    assert (error.code, error.status) == ("UnknownOperationException", 404)


def test_method_is_case_insensitive_and_labels_are_decoded() -> None:
    router = router_for(load_service("rolesanywhere"))
    assert router.match("get", "/trustanchor/a%2Fb%20c%2B%25%C3%A9") == (
        "GetTrustAnchor",
        {"trustAnchorId": "a/b c+%é"},
    )
    assert router.match("POST", "/trustanchor/x+y/enable") == ("EnableTrustAnchor", {"trustAnchorId": "x+y"})
    assert router.match("GET", "/trust%61nchors") == ("ListTrustAnchors", {})


def test_percent_encoded_labels_from_botocore() -> None:
    spec = load_service("rolesanywhere")
    for value in ("a/b", "a b", "日本", "100%", "x+y", "?#&=", "..", "~-._"):
        request = wire_request("rolesanywhere", "GetProfile", {"profileId": value}, validate=False)
        assert router_for(spec).match(request.method, request.path, request.query) == (
            "GetProfile",
            {"profileId": value},
        )


def test_invalid_utf8_in_the_path() -> None:
    with pytest.raises(SerializationException):
        router_for(load_service("rolesanywhere")).match("GET", "/profile/%FF")


# --- precedence and greedy labels on a synthetic model ----------------------------------------------

ROUTES = {
    "GetObject": ("GET", "/{Bucket}/{Key+}"),
    "PutObject": ("PUT", "/{Bucket}/{Key+}"),
    "ListObjects": ("GET", "/{Bucket}"),
    "GetTagging": ("GET", "/{Bucket}?tagging"),
    "GetVersioned": ("GET", "/{Bucket}?versioning&x-id=GetVersioned"),
    "GetSpecial": ("GET", "/{Bucket}/special"),
    "ListAll": ("GET", "/buckets/all"),
    "GetMeta": ("GET", "/buckets/{Name}/meta"),
    "GetNested": ("GET", "/m/{Path+}/end"),
    "Root": ("GET", "/"),
}


def _synthetic_model() -> dict[str, Any]:
    shapes: dict[str, Any] = {"S": {"type": "string"}}
    operations: dict[str, Any] = {}
    for name, (method, uri) in ROUTES.items():
        labels = [part.strip("{}+") for part in uri.split("?")[0].split("/") if part.startswith("{")]
        members = {label: {"shape": "S", "location": "uri", "locationName": label} for label in labels}
        shapes[f"{name}Input"] = {"type": "structure", "required": labels, "members": members}
        operations[name] = {
            "name": name,
            "http": {"method": method, "requestUri": uri},
            "input": {"shape": f"{name}Input"},
        }
    return {
        "metadata": {
            "apiVersion": "2020-01-01",
            "protocol": "rest-json",
            "endpointPrefix": "synthetic",
            "serviceId": "Synthetic",
            "signatureVersion": "v4",
        },
        "operations": operations,
        "shapes": shapes,
    }


MODEL = _synthetic_model()
SPEC = ServiceSpec("synthetic-rest", MODEL)
BOTO = ServiceModel(MODEL, service_name="synthetic-rest")


def botocore_url(operation: str, params: dict[str, Any]) -> tuple[str, str, str]:
    request = create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, BOTO.operation_model(operation)
    )
    prepare_request_dict(request, endpoint_url="https://x.test")
    prepared = AWSRequest(method=request["method"], url=request["url"], data=request["body"]).prepare()
    rest = prepared.url.removeprefix("https://x.test")
    path, _, query = rest.partition("?")
    return prepared.method, path, query


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("GetObject", {"Bucket": "b", "Key": "a"}),
        ("GetObject", {"Bucket": "b", "Key": "dir/sub dir/file 日本.txt"}),
        ("GetObject", {"Bucket": "b", "Key": "trailing/"}),
        ("GetObject", {"Bucket": "b", "Key": "special/x"}),
        ("PutObject", {"Bucket": "b", "Key": "x/y"}),
        ("ListObjects", {"Bucket": "my bucket"}),
        ("GetTagging", {"Bucket": "b"}),
        ("GetVersioned", {"Bucket": "b"}),
        ("GetSpecial", {"Bucket": "b"}),
        ("ListAll", {}),
        ("GetMeta", {"Name": "n"}),
        ("GetNested", {"Path": "a/b/c"}),
        ("GetNested", {"Path": "end"}),
        ("Root", {}),
    ],
)
def test_synthetic_routes_from_botocore(operation: str, params: dict[str, str]) -> None:
    method, path, query = botocore_url(operation, params)
    assert RestRouter(SPEC).match(method, path, query) == (operation, params)


def test_precedence() -> None:
    router = RestRouter(SPEC)
    # Literal segments beat labels, labels beat greedy labels.
    assert router.match("GET", "/b/special") == ("GetSpecial", {"Bucket": "b"})
    assert router.match("GET", "/buckets/all") == ("ListAll", {})
    assert router.match("GET", "/buckets/n/meta") == ("GetMeta", {"Name": "n"})
    assert router.match("GET", "/buckets/n/other") == ("GetObject", {"Bucket": "buckets", "Key": "n/other"})
    # More literal query parts win; without them the plain route answers.
    assert router.match("GET", "/b", "versioning&x-id=GetVersioned&tagging") == ("GetVersioned", {"Bucket": "b"})
    assert router.match("GET", "/b", "tagging=") == ("GetTagging", {"Bucket": "b"})
    assert router.match("GET", "/b", "versioning") == ("ListObjects", {"Bucket": "b"})
    assert router.match("GET", "/") == ("Root", {})


def test_greedy_labels() -> None:
    router = RestRouter(SPEC)
    assert router.match("GET", "/b/a%2Fb/c%20d") == ("GetObject", {"Bucket": "b", "Key": "a/b/c d"})
    assert router.match("GET", "/m/x/end") == ("GetNested", {"Path": "x"})
    assert router.match("GET", "/m/x/y/z/end") == ("GetNested", {"Path": "x/y/z"})
    # Too short for GetNested's greedy label: the bucket route takes it.
    assert router.match("GET", "/m/end") == ("GetObject", {"Bucket": "m", "Key": "end"})
    with pytest.raises(UnknownOperationPath):
        router.match("GET", "/b/")
    with pytest.raises(UnknownOperationPath):
        router.match("DELETE", "/b/k")


def test_compiled_routes() -> None:
    route = compile_route("Op", "get", "/a%20b/{x}/{y+}?flag&k=v%21")
    assert route.method == "GET"
    assert [(s.kind, s.text) for s in route.segments] == [(LITERAL, "a b"), (LABEL, "x"), (GREEDY, "y")]
    assert route.query == (("flag", None), ("k", "v!"))


@pytest.mark.parametrize("uri", ["/{a+}/{b+}", "/x{a}", "/{a}b", "relative/{a}"])
def test_bad_templates(uri: str) -> None:
    with pytest.raises(ValueError):
        compile_route("Op", "GET", uri)


def test_ambiguous_routes_are_refused() -> None:
    model = _synthetic_model()
    model["operations"]["Clash"] = {"name": "Clash", "http": {"method": "GET", "requestUri": "/{Other}"}}
    with pytest.raises(ValueError, match="same route"):
        RestRouter(ServiceSpec("clash", model))
    model = _synthetic_model()
    model["operations"]["Clash"] = {"name": "Clash", "http": {"method": "GET", "requestUri": "/{B}?tagging"}}
    with pytest.raises(ValueError, match="same route"):
        RestRouter(ServiceSpec("clash", model))


def test_query_pairs() -> None:
    assert query_pairs("a=1&a=2&b&c=&d=x+y%2B%20z&&e=%E6%97%A5") == [
        ("a", "1"),
        ("a", "2"),
        ("b", ""),
        ("c", ""),
        ("d", "x y+ z"),
        ("e", "日"),
    ]
    assert query_pairs("") == []
    with pytest.raises(SerializationException):
        query_pairs("a=%C3")


def test_combined_router_routes_by_path_across_services() -> None:
    specs = [load_service(name) for name in REST_SERVICES]
    router = RestRouter.combined(specs)
    assert len(router.routes) == sum(len(spec.operations) for spec in specs)
    for spec in specs:
        for name in spec.operations:
            request = wire_request(spec.name, name, _label_params(spec, name), validate=False)
            route, _ = router.resolve(request.method, request.path, request.query)
            assert (route.service, route.operation) == (spec.name, name)
    # The unsigned operations an unsigned request may reach: the portal's and SSO-OIDC's.
    unsigned = {
        (r.service, r.operation) for r in router.routes if load_service(r.service).operations[r.operation].unsigned
    }
    assert unsigned == {
        ("sso", "GetRoleCredentials"),
        ("sso", "ListAccountRoles"),
        ("sso", "ListAccounts"),
        ("sso", "Logout"),
        ("sso-oidc", "CreateToken"),
        ("sso-oidc", "RegisterClient"),
        ("sso-oidc", "StartDeviceAuthorization"),
    }


def test_combined_router_refuses_shared_routes() -> None:
    with pytest.raises(ValueError, match="same route"):
        RestRouter.combined([SPEC, ServiceSpec("twin", MODEL)])
    with pytest.raises(ValueError, match="not REST-JSON"):
        RestRouter.combined([load_service("organizations")])
