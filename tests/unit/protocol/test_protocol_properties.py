"""Property tests over every operation of the six JSON/REST models, against botocore itself.

Inputs: hypothesis draws a valid input from the operation's input shape, botocore's serializer
turns it into the HTTP request a client sends, and our parser must give back exactly that input
(it is valid, so nothing may be refused).  Outputs: hypothesis draws a result from the output
shape, our serializer writes the answer, and botocore's parser must read back exactly that
result.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iamd.web.protocol.json_codec import WireResponse
from iamd.web.protocol.json_protocol import json_response_headers, parse_json_request, serialize_json_result
from iamd.web.protocol.model import ServiceSpec, load_service
from iamd.web.protocol.rest_json import parse_rest_request, serialize_rest_result
from iamd.web.protocol.rest_router import router_for
from tests.unit.protocol.botocore_wire import parse_answer, wire_request
from tests.unit.protocol.shape_strategies import structures

SIX = ("organizations", "identitystore", "rolesanywhere", "sso", "sso-oidc", "sso-admin")
QUICK = settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
DEEP = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
DEEP_SAMPLE = (
    ("organizations", "CreateAccount"),
    ("organizations", "ListPoliciesForTarget"),
    ("identitystore", "CreateUser"),
    ("identitystore", "GetUserId"),
    ("rolesanywhere", "CreateTrustAnchor"),
    ("rolesanywhere", "DeleteAttributeMapping"),
    ("sso", "ListAccountRoles"),
    ("sso-oidc", "CreateToken"),
    ("sso-admin", "PutApplicationGrant"),
    ("sso-admin", "CreatePermissionSet"),
)


def _operations(kind: str) -> list[tuple[str, str]]:
    found = []
    for service in SIX:
        for name, op in load_service(service).operations.items():
            if (op.input_shape if kind == "input" else op.output_shape) is not None:
                found.append((service, name))
    return found


def parse_via_botocore(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    spec = load_service(service)
    request = wire_request(service, operation, params)
    if spec.protocol == "json":
        routed, inputs = parse_json_request(
            spec, request.header("x-amz-target"), request.body, content_type=request.header("content-type")
        )
    else:
        routed, labels = router_for(spec).match(request.method, request.path, request.query)
        inputs = parse_rest_request(spec, routed, labels, request.query, request.headers, request.body)
    assert routed == operation
    return inputs


def expected_input(spec: ServiceSpec, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` less what HTTP cannot carry: an empty list bound to the query or a header."""
    shape_name = spec.operations[operation].input_shape
    assert shape_name is not None
    shape = spec.compiled(shape_name)
    return {
        name: value
        for name, value in params.items()
        if not (shape.members[name].location in ("querystring", "header") and value == [])
    }


def check_input_round_trip(service: str, operation: str, params: dict[str, Any]) -> None:
    spec = load_service(service)
    assert parse_via_botocore(service, operation, params) == expected_input(spec, operation, params)


def check_output_round_trip(service: str, operation: str, result: dict[str, Any]) -> None:
    spec = load_service(service)
    if spec.protocol == "json":
        wire = WireResponse(200, json_response_headers(spec, "rid"), serialize_json_result(spec, operation, result))
    else:
        wire = serialize_rest_result(spec, operation, result, "rid")
    parsed = parse_answer(service, operation, wire)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "rid"
    assert_same(result, parsed)


def assert_same(expected: Any, actual: Any, path: str = "result") -> None:
    """Equal, timestamps to the millisecond (botocore reads epoch seconds through a float)."""
    if isinstance(expected, datetime):
        assert isinstance(actual, datetime) and abs(expected - actual) < timedelta(milliseconds=1), (path, actual)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(expected) == set(actual), (path, expected, actual)
        for key, value in expected.items():
            assert_same(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), (path, expected, actual)
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_same(want, got, f"{path}[{index}]")
    else:
        assert type(expected) is type(actual) and expected == actual, (path, expected, actual)


@pytest.mark.parametrize(("service", "operation"), _operations("input"))
def test_every_input_round_trips(service: str, operation: str) -> None:
    spec = load_service(service)
    shape_name = spec.operations[operation].input_shape
    assert shape_name is not None

    @QUICK
    @given(structures(spec.compiled(shape_name)))
    def run(params: dict[str, Any]) -> None:
        check_input_round_trip(service, operation, params)

    run()


@pytest.mark.parametrize(("service", "operation"), _operations("output"))
def test_every_output_round_trips(service: str, operation: str) -> None:
    spec = load_service(service)
    shape_name = spec.operations[operation].output_shape
    assert shape_name is not None

    @QUICK
    @given(structures(spec.compiled(shape_name), precision="ms"))
    def run(result: dict[str, Any]) -> None:
        check_output_round_trip(service, operation, result)

    run()


@pytest.mark.slow
@pytest.mark.parametrize(("service", "operation"), DEEP_SAMPLE)
def test_sample_round_trips_deeply(service: str, operation: str) -> None:
    spec = load_service(service)
    op = spec.operations[operation]
    assert op.input_shape is not None

    @DEEP
    @given(structures(spec.compiled(op.input_shape)), st.data())
    def run(params: dict[str, Any], data: st.DataObject) -> None:
        check_input_round_trip(service, operation, params)
        if op.output_shape is not None:
            check_output_round_trip(
                service, operation, data.draw(structures(spec.compiled(op.output_shape), precision="ms"))
            )

    run()
