"""Flat Query parameters -> the typed, validated input of one operation.

Generic over any query-protocol model: ``UserName=x``, ``Tags.member.1.Key=k``, flattened lists
``Name.1``, maps ``Name.entry.1.key`` / ``.value``, nested structures ``A.B``.  Each parameter
is resolved against the compiled input shape (work proportional to the parameters given), then
one walk over what was given converts scalars and checks the model constraints, collecting
every violation into one :class:`ValidationError` worded as AWS words it::

    2 validation errors detected: Value 'a b' at 'userName' failed to satisfy constraint: Member
    must satisfy regular expression pattern: [\\w+=,.@-]+; Value null at 'policyArn' failed to
    satisfy constraint: Member must not be null

Paths in messages are lowerCamelCase, list elements ``tags.1.member.key`` (1-based position).
Violations are reported in model member order, depth first; for one value: type, pattern,
length, enum, numeric range.  Values of ``sensitive`` shapes are not echoed (``Value at 'x'``).
Values that cannot be converted (``MaxItems=ten``, ``OnlyAttached=yes``, bad base64 or
timestamps) are violations of the same kind (``Member must be an integer`` ...).
Unknown parameters, ``Action``, ``Version`` and the SigV4 ``X-Amz-*`` parameters are ignored.

List members and map entries are positions: ``Name.member.1``, ``.2``, ... with no gap.  An
index that is not plain decimal from 1 (``0``, ``01``, ``x``, ``-1``, ten digits or more), or a
list whose indexes skip a number, is refused with :class:`MalformedQueryString` naming the
parameter.  A reader that stops at the first missing index (as AWS's query parser does, as far
as LocalStack models it) and one that sorts whatever indexes it finds would see different input.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from iamd.core.errors import InvalidAction, MalformedQueryString, MissingAction, ValidationError
from iamd.web.protocol.model import ServiceSpec, Shape

_IGNORED = frozenset({"Action", "Version"})
_SIGV4_PREFIX = "X-Amz-"

_INT_RE = re.compile(r"[+-]?[0-9]+")
_POSITION_RE = re.compile(r"[1-9][0-9]{0,8}")
"""A list position: plain decimal from 1, below 10**9 (more members than any request can hold)."""
_SHOWN_MAX = 100
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]?Infinity")
_EPOCH_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_INT_BOUNDS = {
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
_REDACTED = "***Sensitive Data Redacted***"


class _Items(dict[int, Any]):
    """A list being assembled: position index -> raw element."""

    wire = ""
    """The parameter name its indexes follow, e.g. ``Tags.member`` (set when an element is placed)."""


class _Entries(dict[int, dict[str, Any]]):
    """A map being assembled: entry index -> {"key": raw, "value": raw}."""

    wire = ""
    """The parameter name its indexes follow, e.g. ``Attributes.entry``."""


def parse_action(params: Mapping[str, str]) -> str:
    action = params.get("Action")
    if not action:
        raise MissingAction()
    return action


def parse_input(service: ServiceSpec, operation: str, params: Mapping[str, str]) -> dict[str, Any]:
    op = service.operations.get(operation)
    if op is None:
        raise InvalidAction(f"Could not find operation {operation} for version {service.api_version}")
    if op.input_shape is None:
        return {}
    shape = service.compiled(op.input_shape)
    by_wire = shape.members_by_wire
    given: dict[str, Any] = {}
    for key, raw in params.items():
        if key in _IGNORED or key.startswith(_SIGV4_PREFIX):
            continue
        member = by_wire.get(key)
        if member is not None:  # the common case: a top-level scalar
            if member.shape.scalar:
                given[member.name] = raw
            elif member.shape.type == "list" and raw == "":
                given.setdefault(member.name, _Items())
            continue
        if "." in key:
            _place(shape, given, key.split("."), raw)
    errors: list[str] = []
    result = _finish_structure(shape, given, "", errors)
    if errors:
        count = len(errors)
        raise ValidationError(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors))
    return result


# --- step 1: place parameters in a tree ------------------------------------------------------


def _index(parts: list[str], i: int) -> int:
    """The position ``parts[i]`` names (1, 2, ...); MalformedQueryString for any other spelling."""
    token = parts[i]
    if _POSITION_RE.fullmatch(token) is None:
        raise MalformedQueryString(
            f"The parameter {_shown('.'.join(parts))} has the index '{_shown(token)}' where a position is "
            f"expected: number the members of {_shown('.'.join(parts[:i]))} 1, 2, 3, ... in plain decimal, "
            "without gaps."
        )
    return int(token)


def _shown(text: str) -> str:
    """``text`` for an error message, cut short when it is long."""
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."


_Step = tuple[Any, Shape, str]
"""(container key, shape, wire name of the container for positions, else "")."""


def _resolve(shape: Shape, parts: list[str]) -> list[_Step] | None:
    """The steps a parameter name walks, or None if it names nothing.

    A name that reaches a list or map of the model but gives a malformed position there is
    refused (MalformedQueryString) rather than ignored.
    """
    steps: list[_Step] = []
    current = shape
    i = 0
    n = len(parts)
    while i < n:
        kind = current.type
        if kind == "structure":
            member = current.members_by_wire.get(parts[i])
            if member is None:
                return None
            steps.append((member.name, member.shape, ""))
            current = member.shape
            i += 1
        elif kind == "list":
            element = current.member
            assert element is not None
            if not current.flattened:
                if parts[i] != element.wire:
                    return None
                i += 1
            if i >= n:
                return None
            steps.append((_index(parts, i), element.shape, ".".join(parts[:i])))
            current = element.shape
            i += 1
        elif kind == "map":
            key, value = current.key, current.value
            assert key is not None and value is not None
            if not current.flattened:
                if parts[i] != "entry":
                    return None
                i += 1
            if i >= n:
                return None
            index = _index(parts, i)
            if i + 1 >= n:
                return None
            token = parts[i + 1]
            wire = ".".join(parts[:i])
            if token == key.wire:
                steps.append(((index, "key"), key.shape, wire))
                current = key.shape
            elif token == value.wire:
                steps.append(((index, "value"), value.shape, wire))
                current = value.shape
            else:
                return None
            i += 2
        else:
            return None  # a scalar cannot have sub-parameters
    return steps


def _new_container(shape: Shape) -> Any:
    kind = shape.type
    if kind == "list":
        return _Items()
    if kind == "map":
        return _Entries()
    return {}


def _place(shape: Shape, given: dict[str, Any], parts: list[str], raw: str) -> None:
    steps = _resolve(shape, parts)
    if not steps:
        return
    last_key, last_shape, last_wire = steps[-1]
    if last_shape.scalar:
        leaf: Any = raw
    elif last_shape.type == "list" and raw == "":
        leaf = None  # the empty-list marker (botocore sends ``Name=`` for [])
    else:
        return
    container: Any = given
    for key, child_shape, wire in steps[:-1]:
        if wire:
            container.wire = wire
        if isinstance(key, tuple):
            container = container.setdefault(key[0], {})
            key = key[1]
        child = container.get(key)
        if child is None:
            child = container[key] = _new_container(child_shape)
        container = child
    if last_wire:
        container.wire = last_wire
    if isinstance(last_key, tuple):
        container = container.setdefault(last_key[0], {})
        last_key = last_key[1]
    if leaf is None:
        container.setdefault(last_key, _Items())
    else:
        container[last_key] = leaf


# --- step 2: convert and validate --------------------------------------------------------------


def _join(path: str, label: str) -> str:
    return f"{path}.{label}" if path else label


def _finish(shape: Shape, raw: Any, path: str, errors: list[str]) -> Any:
    kind = shape.type
    if kind == "string":
        _check_string(shape, raw, path, errors)
        return raw
    if kind == "structure":
        return _finish_structure(shape, raw, path, errors)
    if kind == "list":
        return _finish_list(shape, raw, path, errors)
    if kind == "map":
        return _finish_map(shape, raw, path, errors)
    return _finish_scalar(shape, raw, path, errors)


def _finish_structure(shape: Shape, given: dict[str, Any], path: str, errors: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    required = shape.required
    if not given and not required:
        return out
    for name, member in shape.members.items():
        raw = given.get(name)
        if raw is None:
            if name in required:
                errors.append(_message(None, _join(path, member.label), "Member must not be null", member.shape))
            continue
        out[name] = _finish(member.shape, raw, _join(path, member.label), errors)
    return out


def _finish_list(shape: Shape, items: _Items, path: str, errors: list[str]) -> list[Any]:
    element = shape.member
    assert element is not None
    element_shape = element.shape
    _check_positions(items, items.wire, "members")
    raws = [items[index] for index in sorted(items)] if len(items) > 1 else list(items.values())
    inner: list[str] = []
    out = [_finish(element_shape, raw, f"{path}.{position}.member", inner) for position, raw in enumerate(raws, 1)]
    _check_length(shape, out, len(out), path, errors)
    errors.extend(inner)
    return out


def _finish_map(shape: Shape, entries: _Entries, path: str, errors: list[str]) -> dict[Any, Any]:
    key_member, value_member = shape.key, shape.value
    assert key_member is not None and value_member is not None
    _check_positions(entries, entries.wire, "entries")
    out: dict[Any, Any] = {}
    inner: list[str] = []
    for position, index in enumerate(sorted(entries), 1):
        entry = entries[index]
        entry_path = f"{path}.{position}.entry"
        raw_key = entry.get("key")
        raw_value = entry.get("value")
        if raw_key is None or raw_value is None:
            missing = key_member if raw_key is None else value_member
            inner.append(_message(None, f"{entry_path}.{missing.label}", "Member must not be null", missing.shape))
            continue
        key = _finish(key_member.shape, raw_key, f"{entry_path}.{key_member.label}", inner)
        out[key] = _finish(value_member.shape, raw_value, f"{entry_path}.{value_member.label}", inner)
    _check_length(shape, out, len(out), path, errors)
    errors.extend(inner)
    return out


def _check_positions(indexes: Mapping[int, Any], wire: str, what: str) -> None:
    """Refuse indexes that are not exactly 1..n (they are distinct positive integers already)."""
    count = len(indexes)
    if count and max(indexes) != count:
        missing = next(i for i in range(1, count + 1) if i not in indexes)
        after = min(i for i in indexes if i > missing)
        raise MalformedQueryString(
            f"The request has {wire}.{after} but no {wire}.{missing}: "
            f"number the {what} of {wire} 1, 2, 3, ... without gaps."
        )


def _finish_scalar(shape: Shape, raw: str, path: str, errors: list[str]) -> Any:
    kind = shape.type
    if kind in _INT_BOUNDS:
        low, high = _INT_BOUNDS[kind]
        if _INT_RE.fullmatch(raw) is None or not low <= (number := int(raw)) <= high:
            errors.append(_message(raw, path, "Member must be an integer", shape))
            return None
        _check_range(shape, number, path, errors)
        return number
    if kind == "boolean":
        lowered = raw.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        errors.append(_message(raw, path, "Member must be a boolean (true or false)", shape))
        return None
    if kind == "timestamp":
        stamp = _parse_timestamp(raw)
        if stamp is None:
            errors.append(_message(raw, path, "Member must be a timestamp in ISO 8601 format", shape))
        return stamp
    if kind == "blob":
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            errors.append(_message(raw, path, "Member must be valid base64-encoded data", shape))
            return None
        _check_length(shape, data, len(data), path, errors)
        return data
    if kind in ("float", "double"):
        if _FLOAT_RE.fullmatch(raw) is None:
            errors.append(_message(raw, path, "Member must be a number", shape))
            return None
        real = float(raw)
        if not math.isnan(real):
            _check_range(shape, real, path, errors)
        return real
    if kind == "character":
        _check_string(shape, raw, path, errors)
        return raw
    raise TypeError(f"unsupported shape type {kind!r} ({shape.name})")


def _parse_timestamp(raw: str) -> datetime | None:
    """ISO 8601 (what botocore sends); epoch seconds as a fallback.  Naive times are UTC."""
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        if _EPOCH_RE.fullmatch(raw) is None:
            return None
        try:
            return datetime.fromtimestamp(float(raw), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp


def _check_string(shape: Shape, value: str, path: str, errors: list[str]) -> None:
    pattern = shape.pattern
    if pattern is not None and pattern.fullmatch(value) is None:
        errors.append(
            _message(value, path, f"Member must satisfy regular expression pattern: {shape.pattern_text}", shape)
        )
    if shape.min is not None or shape.max is not None:
        _check_length(shape, value, len(value), path, errors)
    enum = shape.enum
    if enum is not None and value not in enum:
        errors.append(_message(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]", shape))


def _check_length(shape: Shape, value: Any, length: int, path: str, errors: list[str]) -> None:
    low = shape.min
    if low is not None and length < low:
        errors.append(_message(value, path, f"Member must have length greater than or equal to {low}", shape))
    high = shape.max
    if high is not None and length > high:
        errors.append(_message(value, path, f"Member must have length less than or equal to {high}", shape))


def _check_range(shape: Shape, value: float, path: str, errors: list[str]) -> None:
    low = shape.min
    if low is not None and value < low:
        errors.append(_message(value, path, f"Member must have value greater than or equal to {low}", shape))
    high = shape.max
    if high is not None and value > high:
        errors.append(_message(value, path, f"Member must have value less than or equal to {high}", shape))


def _message(value: Any, path: str, constraint: str, shape: Shape) -> str:
    if value is None:
        shown = "Value null"
    elif shape.sensitive:
        shown = "Value"
    else:
        shown = f"Value '{_render(value, shape)}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


def _render(value: Any, shape: Shape | None) -> str:
    """Roughly Java's toString of the value, as AWS echoes it in validation messages."""
    if shape is not None and shape.sensitive:
        return _REDACTED
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        element = shape.member.shape if shape is not None and shape.member is not None else None
        return "[" + ", ".join(_render(item, element) for item in value) + "]"
    if isinstance(value, dict):
        if shape is not None and shape.type == "structure":
            parts = []
            for name, item in value.items():
                member = shape.members.get(name)
                parts.append(f"{name}: {_render(item, member.shape if member else None)}")
            return "{" + ", ".join(parts) + "}"
        value_shape = shape.value.shape if shape is not None and shape.value is not None else None
        return "{" + ", ".join(f"{k}={_render(v, value_shape)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
