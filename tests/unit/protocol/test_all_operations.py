"""Every operation of both models, both directions, against botocore itself.

Inputs: a complete, constraint-satisfying input is generated from the model for each
operation, serialized by botocore's own query serializer into a form body, and must come back
from parse_form + parse_input unchanged.  Outputs: a complete result is generated, serialized
by serialize_result and must come back unchanged from botocore's query response parser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from botocore.awsrequest import AWSRequest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.session import get_session

from iamd.core.errors import ValidationError
from iamd.web.protocol.form import parse_form
from iamd.web.protocol.model import ServiceSpec, Shape, load_service
from iamd.web.protocol.query_parser import parse_input
from iamd.web.protocol.xml_serializer import serialize_result

SERVICES = ("iam", "sts")
_SESSION = get_session()

# Strings tried, in order, until one satisfies a shape's pattern and length limits.
_CANDIDATES = (
    "abc",
    "/",
    "/a/b/",
    "ABC1",
    "123456",
    "123456789012",
    "o-abcdefghij",
    "o-abcdefghij/r-abcd/ou-x",
    "p-abcdefgh",
    "v1",
    "https://example.com/x",
    "ab:cd",
)


def _string(shape: Shape, seed: str) -> str:
    if shape.enum:
        return shape.enum[-1]
    low = int(shape.min or 0)
    high = int(shape.max or 10**6)
    pattern = shape.pattern
    for base in (seed, *_CANDIDATES):
        for candidate in (base, base + base[-1] * max(0, low - len(base))):
            if low <= len(candidate) <= high and (pattern is None or pattern.fullmatch(candidate)):
                return candidate
    raise AssertionError(f"no candidate string fits {shape.name}: {shape.pattern_text} [{low}, {high}]")


def _input_value(shape: Shape, seed: str, depth: int = 0) -> Any:
    kind = shape.type
    if kind == "structure":
        members = list(shape.members.items())
        if shape.raw.get("union"):
            members = members[:1]  # a tagged union carries exactly one member
        return {
            name: _input_value(member.shape, name.lower()[:3], depth + 1)
            for name, member in members
            if depth < 6 or name in shape.required
        }
    if kind == "list":
        assert shape.member is not None
        count = max(int(shape.min or 0), min(2, int(shape.max or 2)))
        return [_input_value(shape.member.shape, f"{seed}{i}", depth + 1) for i in range(count)]
    if kind == "map":
        assert shape.key is not None and shape.value is not None
        return {
            _input_value(shape.key.shape, f"k{i}", depth + 1): _input_value(shape.value.shape, f"v{i}", depth + 1)
            for i in range(2)
        }
    if kind == "string":
        return _string(shape, seed)
    if kind in ("integer", "long"):
        return int(shape.min if shape.min is not None else 7)
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    if kind == "blob":
        return b"\x00\xffbinary"
    if kind in ("float", "double"):
        return 1.5
    raise AssertionError(kind)


_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}'


def _output_value(shape: Shape, seed: str, depth: int = 0) -> Any:
    kind = shape.type
    if kind == "structure":
        return {
            name: _output_value(member.shape, name, depth + 1) for name, member in shape.members.items() if depth < 8
        }
    if kind == "list":
        assert shape.member is not None
        return [_output_value(shape.member.shape, f"{seed}-{i}", depth + 1) for i in range(2)]
    if kind == "map":
        assert shape.key is not None and shape.value is not None
        return {
            _output_value(shape.key.shape, f"{seed}-k{i}", depth + 1): _output_value(
                shape.value.shape, f"{seed}-v{i}", depth + 1
            )
            for i in range(2)
        }
    if kind == "string":
        if shape.is_policy_document:
            return _POLICY
        return shape.enum[0] if shape.enum else f"{seed} <&> \"'"
    if kind in ("integer", "long"):
        return 42
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    if kind == "blob":
        return b"\x00\x01report,csv\n"
    if kind in ("float", "double"):
        return 2.5
    raise AssertionError(kind)


def _as_botocore_parses(shape: Shape, value: Any) -> Any:
    """What botocore's parser (without after-call handlers) yields for ``value``."""
    kind = shape.type
    if kind == "structure":
        return {k: _as_botocore_parses(shape.members[k].shape, v) for k, v in value.items()}
    if kind == "list":
        assert shape.member is not None
        return [_as_botocore_parses(shape.member.shape, v) for v in value]
    if kind == "map":
        assert shape.value is not None
        return {k: _as_botocore_parses(shape.value.shape, v) for k, v in value.items()}
    if kind == "string" and shape.is_policy_document:
        return quote(value, safe="")
    return value


def _operations() -> list[tuple[str, str]]:
    return [(service, op) for service in SERVICES for op in sorted(load_service(service).operations)]


def _form_body(service: str, operation: str, params: dict[str, Any]) -> bytes:
    model = _SESSION.get_service_model(service).operation_model(operation)
    request = create_serializer("query").serialize_to_request(params, model)
    prepared = AWSRequest(method="POST", url="https://example.test/", data=request["body"]).prepare()
    body = prepared.body
    return body if isinstance(body, bytes) else body.encode()


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_input_round_trip(service: str, operation: str) -> None:
    spec = load_service(service)
    op = spec.operations[operation]
    params = _input_value(spec.compiled(op.input_shape), "x") if op.input_shape else {}
    body = _form_body(service, operation, params)
    form = parse_form(body)
    assert form["Action"] == operation
    assert parse_input(spec, operation, form) == params


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_input_required_members_are_enforced(service: str, operation: str) -> None:
    spec = load_service(service)
    op = spec.operations[operation]
    if op.input_shape is None:
        assert parse_input(spec, operation, {"Action": operation, "Anything": "x"}) == {}
        return
    shape = spec.compiled(op.input_shape)
    if not shape.required:
        assert parse_input(spec, operation, {"Action": operation}) == {}
        return
    with pytest.raises(ValidationError) as info:
        parse_input(spec, operation, {"Action": operation, "Version": spec.api_version})
    err = info.value
    assert err.code == "ValidationError"
    missing = [m for m in shape.members.values() if m.name in shape.required]
    assert err.message.startswith(f"{len(missing)} validation error{'s' if len(missing) > 1 else ''} detected: ")
    for member in missing:
        assert f"Value null at '{member.label}' failed to satisfy constraint: Member must not be null" in err.message


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_output_round_trip(service: str, operation: str) -> None:
    spec: ServiceSpec = load_service(service)
    op = spec.operations[operation]
    model = _SESSION.get_service_model(service).operation_model(operation)
    result = _output_value(spec.compiled(op.output_shape), "v") if op.output_shape else None
    xml = serialize_result(spec, operation, result, "req-1")
    parsed = create_parser("query").parse({"body": xml, "headers": {}, "status_code": 200}, model.output_shape)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    expected = _as_botocore_parses(spec.compiled(op.output_shape), result) if op.output_shape else {}
    assert parsed == expected
