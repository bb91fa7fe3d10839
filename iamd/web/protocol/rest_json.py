"""The REST-JSON protocol (restJson1): Roles Anywhere, the SSO portal, SSO-OIDC.

The operation comes from the method and path (:mod:`rest_router`); each input member is bound by
its ``location``:

* ``uri``: a path label (strings as given; numbers, booleans, ISO 8601 timestamps converted);
* ``querystring``: a query parameter; lists repeat it (``?a=1&a=2``); a map collects every query
  parameter no other member binds; a scalar given twice is a SerializationException;
* ``header``: a header (timestamps RFC 822 by default, lists comma-separated with ``"``-quoting,
  ``jsonvalue`` headers base64 JSON); ``headers``: every header with the member's prefix, as a map;
* no location: the JSON body (``application/json``, any other content type:
  UnsupportedMediaTypeException, 415), or, when the input names a ``payload`` member, the whole
  body is that member (JSON for a structure, raw bytes for a blob, text for a string).

Answers: the operation's ``responseCode`` (or a ``statusCode``-bound output member), header-bound
output members as headers, the body members as a JSON object (or the ``payload`` member alone).
Errors: the error's status, ``x-amzn-ErrorType: <Code>`` (where botocore reads the code) and the
message and fields as the service's exception shape lays them out.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from iamd.core.errors import AwsError, SerializationException, UnsupportedMediaTypeException
from iamd.web.protocol.input_errors import invalid_input_error
from iamd.web.protocol.json_codec import (
    ISO8601,
    RFC822,
    WireResponse,
    decode_json_object,
    encode_json,
    error_body,
    error_members,
    format_timestamp,
    parse_timestamp_text,
    read_structure,
    write_structure,
    write_value,
)
from iamd.web.protocol.json_protocol import JSON_MEDIA_TYPES, media_type
from iamd.web.protocol.model import Member, ServiceSpec, Shape
from iamd.web.protocol.rest_router import query_pairs
from iamd.web.protocol.validate import check_input

JSON_CONTENT_TYPE = "application/json"
_BODY_MEDIA_TYPES = frozenset({JSON_CONTENT_TYPE, *JSON_MEDIA_TYPES})
_INTEGERS = frozenset({"integer", "long", "short", "byte"})
_INT_BOUNDS = {
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

Headers = Iterable[tuple[str, str]] | Mapping[str, str]


def header_map(headers: Headers) -> dict[str, str]:
    """Headers by lower-cased name; a repeated header's values joined with ``, `` (RFC 9110)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


# --- requests ----------------------------------------------------------------------------------


def parse_rest_request(
    spec: ServiceSpec,
    operation: str,
    uri_params: Mapping[str, str],
    query: str,
    headers: Headers,
    body: bytes,
) -> dict[str, Any]:
    """The typed, validated input of ``operation`` (routed by :meth:`RestRouter.match`).

    ``query`` is the raw query string, ``headers`` the request headers (any case; repeats
    allowed), ``body`` the raw body.
    """
    if spec.protocol != "rest-json":
        raise ValueError(f"{spec.name} speaks {spec.protocol}, not REST-JSON")
    op = spec.operations[operation]
    if op.input_shape is None:
        return {}
    shape = spec.compiled(op.input_shape)
    header_values = header_map(headers)
    pairs = query_pairs(query)
    bound_query = {m.location_name for m in shape.members.values() if m.location == "querystring"}
    inputs: dict[str, Any] = {}
    for member in shape.members.values():
        location = member.location
        if location is None or location == "statusCode":
            continue
        if location == "uri":
            text = uri_params.get(member.location_name or member.name)
            value = None if text is None else _from_text(member, member.shape, text, ISO8601, "path label")
        elif location == "querystring":
            value = _from_query(member, pairs, bound_query)
        elif location == "header":
            value = _from_header(member, header_values)
        elif location == "headers":
            prefix = (member.location_name or "").lower()
            found = {name[len(prefix) :]: text for name, text in header_values.items() if name.startswith(prefix)}
            value = found or None
        else:
            raise ValueError(f"{spec.name}:{operation}: unknown location {location!r} for {member.name}")
        if value is not None:
            inputs[member.name] = value
    inputs.update(_from_body(shape, header_values.get("content-type"), body))
    violations = check_input(shape, inputs)
    if violations:
        raise invalid_input_error(spec, violations)
    return inputs


def _check_json_body(content_type: str | None) -> None:
    kind = media_type(content_type)
    if kind and kind not in _BODY_MEDIA_TYPES:
        raise UnsupportedMediaTypeException(f"Content-Type {content_type} is not supported: send {JSON_CONTENT_TYPE}.")


def _from_body(shape: Shape, content_type: str | None, body: bytes) -> dict[str, Any]:
    payload = shape.payload
    if payload is not None:
        member = shape.members[payload]
        target = member.shape
        if not body:
            return {}
        if target.type == "blob":
            return {payload: bytes(body)}
        if target.type == "string":
            try:
                return {payload: body.decode("utf-8")}
            except UnicodeDecodeError:
                raise SerializationException("The request body is not valid UTF-8.") from None
        _check_json_body(content_type)
        if target.document:
            try:
                return {payload: json.loads(body)}
            except (ValueError, RecursionError):
                raise SerializationException("The request body is not valid JSON.") from None
        return {payload: read_structure(target, decode_json_object(body))}
    if not shape.body_members or not body:
        return {}
    _check_json_body(content_type)
    return read_structure(shape, decode_json_object(body), shape.body_members)


def _from_query(member: Member, pairs: list[tuple[str, str]], bound: set[str | None]) -> Any:
    shape = member.shape
    if shape.type == "map":  # every query parameter no other member binds
        value_member = shape.value
        assert value_member is not None
        collected: dict[str, Any] = {}
        for name, text in pairs:
            if name in bound:
                continue
            if value_member.shape.type == "list":
                collected.setdefault(name, []).append(text)
            else:
                collected.setdefault(name, text)
        return collected or None
    name = member.location_name or member.name
    texts = [text for key, text in pairs if key == name]
    if not texts:
        return None
    if shape.type == "list":
        element = shape.member
        assert element is not None
        return [_from_text(element, element.shape, text, ISO8601, f"query parameter {name}") for text in texts]
    if len(texts) > 1:
        raise SerializationException(f"The query parameter {name} is given {len(texts)} times; give it once.")
    return _from_text(member, shape, texts[0], ISO8601, f"query parameter {name}")


def _from_header(member: Member, headers: Mapping[str, str]) -> Any:
    name = (member.location_name or member.name).lower()
    text = headers.get(name)
    if text is None:
        return None
    shape = member.shape
    where = f"header {member.location_name}"
    if shape.type == "list":
        element = shape.member
        assert element is not None
        return [_from_text(element, element.shape, item, RFC822, where) for item in split_header_list(text)]
    if member.json_value:
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError, RecursionError):
            raise SerializationException(f"The {where} must hold base64-encoded JSON.") from None
    return _from_text(member, shape, text, RFC822, where)


def split_header_list(text: str) -> list[str]:
    """The items of a comma-separated header; ``"..."`` items may hold commas and ``\\"``."""
    items: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            i += 1  # the closing quote
            items.append("".join(chars))
            while i < n and text[i] != ",":
                i += 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            items.append(text[i:end].strip())
            i = end
        i += 1  # the comma
    return items


def _from_text(member: Member, shape: Shape, text: str, default_format: str, where: str) -> Any:
    """A value bound outside the body (path label, query parameter, header), as its type."""
    kind = shape.type
    if kind in ("string", "character"):
        return text
    if kind in _INTEGERS:
        low, high = _INT_BOUNDS[kind]
        if _INT_RE.fullmatch(text) is not None and low <= (number := int(text)) <= high:
            return number
        raise SerializationException(f"The {where} must be an integer ({low} to {high}), not {text!r}.")
    if kind == "boolean":
        if text in ("true", "false"):
            return text == "true"
        raise SerializationException(f"The {where} must be true or false, not {text!r}.")
    if kind in ("float", "double"):
        if text in _NON_FINITE:
            return _NON_FINITE[text]
        if _FLOAT_RE.fullmatch(text) is None:
            raise SerializationException(f"The {where} must be a number, not {text!r}.")
        return float(text)
    if kind == "timestamp":
        fmt = member.timestamp_format or default_format
        stamp = parse_timestamp_text(text, fmt)
        if stamp is None:
            raise SerializationException(f"The {where} must be an {fmt} timestamp, not {text!r}.")
        return stamp
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"The {where} must be base64, not {text!r}.") from None
    raise SerializationException(f"The {where} cannot carry a {kind}.")


# --- answers -----------------------------------------------------------------------------------


def serialize_rest_result(
    spec: ServiceSpec, operation: str, result: Mapping[str, Any] | None, request_id: str
) -> WireResponse:
    op = spec.operations.get(operation)
    if op is None:
        raise ValueError(f"{spec.name} has no operation {operation}")
    headers: list[tuple[str, str]] = [("x-amzn-RequestId", request_id)]
    if op.output_shape is None:
        if result:
            raise TypeError(f"{spec.name}:{operation} has no output, but the handler returned {sorted(result)}")
        return WireResponse(op.response_code, headers, b"")
    shape = spec.compiled(op.output_shape)
    try:
        status, body, content_type = _write_message(shape, result or {}, op.response_code, headers)
    except TypeError as exc:
        raise TypeError(f"{spec.name}:{operation}: {exc}") from None
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return WireResponse(status, headers, body)


def serialize_rest_error(error: AwsError, request_id: str, spec: ServiceSpec | None = None) -> WireResponse:
    """An error answer; ``spec`` (when the service is known) lays out modeled fields."""
    shape, values = error_members(spec, error)
    headers: list[tuple[str, str]] = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", error.code)]
    if shape is None:
        document = error_body(None, values)
    else:
        for member in shape.members.values():
            if member.location == "header" and values.get(member.name) is not None:
                headers.append((member.location_name or member.name, _to_text(member, values[member.name])))
        document = error_body(shape, values, shape.body_members)
    headers.append(("Content-Type", JSON_CONTENT_TYPE))
    return WireResponse(error.status, headers, encode_json(document))


def _write_message(
    shape: Shape, value: Mapping[str, Any], status: int, headers: list[tuple[str, str]]
) -> tuple[int, bytes, str | None]:
    for key in value:
        if key not in shape.members:
            raise TypeError(f"unknown member {key!r} for {shape.name} (members: {', '.join(shape.members)})")
    for member in shape.members.values():
        item = value.get(member.name)
        if item is None or member.location is None:
            continue
        if member.location == "statusCode":
            if not isinstance(item, int) or isinstance(item, bool):
                raise TypeError(f"{member.name}: the status code must be an int")
            status = item
        elif member.location == "header":
            headers.append((member.location_name or member.name, _to_text(member, item)))
        elif member.location == "headers":
            prefix = member.location_name or ""
            headers.extend((prefix + key, str(text)) for key, text in item.items())
        else:
            raise TypeError(f"{member.name}: output members cannot be bound to {member.location}")
    payload = shape.payload
    if payload is not None:
        member = shape.members[payload]
        item = value.get(payload)
        if item is None:
            return status, b"", None
        if member.shape.type == "blob":
            data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            return status, data, "application/octet-stream"
        if member.shape.type == "string":
            return status, str(item).encode("utf-8"), "text/plain"
        if member.shape.document:
            return status, encode_json(item), JSON_CONTENT_TYPE
        return status, encode_json(write_structure(member.shape, item)), JSON_CONTENT_TYPE
    if not shape.body_members:
        return status, b"", None
    return status, encode_json(write_structure(shape, value, shape.body_members)), JSON_CONTENT_TYPE


def _to_text(member: Member, value: Any) -> str:
    """A header value as botocore's RestJSONParser reads it."""
    shape = member.shape
    if shape.type == "list":
        element = shape.member
        assert element is not None
        parts = []
        for item in value:
            text = _to_text(element, item)
            if element.shape.type == "string" and ('"' in text or "," in text):
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(text)
        return ",".join(parts)
    if shape.type == "timestamp":
        return str(format_timestamp(value, member.timestamp_format or RFC822))
    if member.json_value:
        return base64.b64encode(encode_json(value)).decode("ascii")
    written = write_value(member, shape, value)
    if isinstance(written, bool):
        return "true" if written else "false"
    return str(written)
