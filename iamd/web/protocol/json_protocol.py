"""The AWS JSON 1.1 (and 1.0) protocol: Organizations, Identity Store, SSO Admin.

A request is ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and
``Content-Type: application/x-amz-json-1.1``; the body is the input structure as a JSON object
(member names as keys, timestamps as epoch seconds, blobs base64).

* Another content type, no target, a target with another prefix or naming no operation:
  ``UnknownOperationException`` (400), as AWS answers.
* A body that is not a JSON object, or a value of the wrong type: ``SerializationException``.
* Broken model constraints: the service's validation error (:mod:`input_errors`).

A result is the output structure as a JSON object (``{}`` for an operation without output). An
error is ``{"__type": "<Code>", "<message member>": "...", <extra fields>}`` with the headers
``x-amzn-RequestId`` and ``x-amzn-ErrorType``; botocore reads the code from ``__type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamd.core.errors import AwsError, UnknownOperationException
from iamd.web.protocol.input_errors import invalid_input_error
from iamd.web.protocol.json_codec import (
    WireResponse,
    decode_json_object,
    encode_json,
    error_body,
    error_members,
    read_structure,
    write_structure,
)
from iamd.web.protocol.model import ServiceSpec
from iamd.web.protocol.validate import check_input

#: The media types a JSON-protocol request may carry (parameters such as charset are ignored).
JSON_MEDIA_TYPES = frozenset({"application/x-amz-json-1.0", "application/x-amz-json-1.1"})
DEFAULT_JSON_VERSION = "1.1"


def media_type(content_type: str | None) -> str:
    """The lower-cased media type of a Content-Type header, without parameters ("" if none)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def content_type_of(spec: ServiceSpec | None) -> str:
    version = spec.json_version if spec is not None and spec.json_version else DEFAULT_JSON_VERSION
    return f"application/x-amz-json-{version}"


def target_operation(spec: ServiceSpec, target_header: str | None) -> str:
    """The operation ``X-Amz-Target`` names, or UnknownOperationException."""
    if not target_header:
        raise UnknownOperationException(
            f"The request has no X-Amz-Target header: send {spec.target_prefix}.<Operation>."
        )
    prefix, _, operation = target_header.strip().rpartition(".")
    if prefix != spec.target_prefix or operation not in spec.operations:
        raise UnknownOperationException(
            f"{target_header} is not an operation of {spec.name} (expected {spec.target_prefix}.<Operation>)."
        )
    return operation


def parse_json_request(
    spec: ServiceSpec, target_header: str | None, body: bytes, *, content_type: str | None
) -> tuple[str, dict[str, Any]]:
    """The operation and its typed, validated input, from one JSON-protocol request."""
    if spec.protocol != "json":
        raise ValueError(f"{spec.name} speaks {spec.protocol}, not the JSON protocol")
    if media_type(content_type) not in JSON_MEDIA_TYPES:
        raise UnknownOperationException(
            f"Content-Type {content_type or '(none)'} is not a JSON-protocol request: "
            f"send {content_type_of(spec)} with X-Amz-Target."
        )
    operation = target_operation(spec, target_header)
    op = spec.operations[operation]
    raw = decode_json_object(body)
    if op.input_shape is None:
        return operation, {}
    shape = spec.compiled(op.input_shape)
    inputs = read_structure(shape, raw)
    violations = check_input(shape, inputs)
    if violations:
        raise invalid_input_error(spec, violations)
    return operation, inputs


def json_response_headers(spec: ServiceSpec | None, request_id: str) -> list[tuple[str, str]]:
    return [("Content-Type", content_type_of(spec)), ("x-amzn-RequestId", request_id)]


def serialize_json_result(spec: ServiceSpec, operation: str, result: Mapping[str, Any] | None) -> bytes:
    """The JSON body of a successful answer (headers: :func:`json_response_headers`)."""
    op = spec.operations.get(operation)
    if op is None:
        raise ValueError(f"{spec.name} has no operation {operation}")
    if op.output_shape is None:
        if result:
            raise TypeError(f"{spec.name}:{operation} has no output, but the handler returned {sorted(result)}")
        return b"{}"
    try:
        document = write_structure(spec.compiled(op.output_shape), result or {})
    except TypeError as exc:
        raise TypeError(f"{spec.name}:{operation}: {exc}") from None
    return encode_json(document)


def serialize_json_error(error: AwsError, request_id: str, spec: ServiceSpec | None = None) -> WireResponse:
    """An error answer; ``spec`` (when the service is known) lays out modeled fields."""
    shape, values = error_members(spec, error)
    document: dict[str, Any] = {"__type": error.code}
    document.update(error_body(shape, values))
    headers = [*json_response_headers(spec, request_id), ("x-amzn-ErrorType", error.code)]
    return WireResponse(error.status, headers, encode_json(document))
