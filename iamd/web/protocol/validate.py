"""Model constraints checked on already-typed input, worded as AWS words them.

The protocol parsers turn the wire into typed values (``dict`` for structures and maps, ``list``,
``str``, ``int``, ``float``, ``bool``, ``datetime``, ``bytes``; a document is any JSON value);
:func:`check_input` then walks the value against its compiled shape and returns every broken
constraint as a :class:`Violation`, in model member order, depth first; for one value: pattern,
length, enum (strings), length (lists, maps, blobs), range (numbers).  :func:`validation_message`
joins them the way AWS does::

    2 validation errors detected: Value 'a b' at 'userName' failed to satisfy constraint: Member
    must satisfy regular expression pattern: [\\w+=,.@-]+; Value null at 'policyArn' failed to
    satisfy constraint: Member must not be null

Paths are lowerCamelCase member names; list elements are ``tags.1.member`` (1-based), map
entries ``attrs.1.entry.key`` / ``.value`` (entry order), as in the Query validator.  Values of
``sensitive`` shapes are not echoed (``Value at 'x'``).  Which AWS error carries the message
depends on the service: see :mod:`iamd.web.protocol.input_errors`.
"""

from __future__ import annotations

import base64
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from iamd.web.protocol.model import Shape

REDACTED = "***Sensitive Data Redacted***"


class Rule(enum.Enum):
    """The kind of constraint a value broke."""

    REQUIRED = "required"
    PATTERN = "pattern"
    MIN_LENGTH = "min_length"
    MAX_LENGTH = "max_length"
    ENUM = "enum"
    MIN_VALUE = "min_value"
    MAX_VALUE = "max_value"


@dataclass(frozen=True)
class Violation:
    path: str
    """Where the value sits: ``userName``, ``tags.1.member.key``."""
    rule: Rule
    constraint: str
    """AWS's wording of the rule: ``Member must not be null``."""
    value: Any
    """The offending value (None for a missing member)."""
    shape: Shape

    def __str__(self) -> str:
        if self.value is None:
            shown = "Value null"
        elif self.shape.sensitive:
            shown = "Value"
        else:
            shown = f"Value '{render_value(self.value, self.shape)}'"
        return f"{shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def check_input(shape: Shape, value: Mapping[str, Any]) -> list[Violation]:
    """Every constraint of structure ``shape`` that ``value`` breaks (empty when it is valid)."""
    found: list[Violation] = []
    _structure(shape, value, "", found)
    return found


def validation_message(violations: list[Violation]) -> str:
    count = len(violations)
    detail = "; ".join(str(v) for v in violations)
    return f"{count} validation error{'s' if count > 1 else ''} detected: {detail}"


def _join(path: str, label: str) -> str:
    return f"{path}.{label}" if path else label


def _check(shape: Shape, value: Any, path: str, found: list[Violation]) -> None:
    kind = shape.type
    if kind == "string":
        _string(shape, value, path, found)
    elif kind == "structure":
        if not shape.document:
            _structure(shape, value, path, found)
    elif kind == "list":
        _list(shape, value, path, found)
    elif kind == "map":
        _map(shape, value, path, found)
    elif kind in ("integer", "long", "short", "byte"):
        _range(shape, value, path, found)
    elif kind in ("float", "double"):
        if not math.isnan(value):
            _range(shape, value, path, found)
    elif kind == "blob":
        _length(shape, value, len(value), path, found)
    elif kind == "character":
        _string(shape, value, path, found)
    # boolean, timestamp: no constraints in the models


def _structure(shape: Shape, value: Mapping[str, Any], path: str, found: list[Violation]) -> None:
    required = shape.required
    if not value and not required:
        return
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            if name in required:
                found.append(_null(_join(path, member.label), member.shape))
            continue
        _check(member.shape, item, _join(path, member.label), found)


def _list(shape: Shape, items: list[Any], path: str, found: list[Violation]) -> None:
    element = shape.member
    assert element is not None
    _length(shape, items, len(items), path, found)
    for position, item in enumerate(items, 1):
        where = f"{path}.{position}.member"
        if item is None:
            found.append(_null(where, element.shape))
        else:
            _check(element.shape, item, where, found)


def _map(shape: Shape, entries: Mapping[Any, Any], path: str, found: list[Violation]) -> None:
    key_member, value_member = shape.key, shape.value
    assert key_member is not None and value_member is not None
    _length(shape, entries, len(entries), path, found)
    for position, (key, item) in enumerate(entries.items(), 1):
        entry = f"{path}.{position}.entry"
        _check(key_member.shape, key, f"{entry}.{key_member.label}", found)
        where = f"{entry}.{value_member.label}"
        if item is None:
            found.append(_null(where, value_member.shape))
        else:
            _check(value_member.shape, item, where, found)


def _string(shape: Shape, value: str, path: str, found: list[Violation]) -> None:
    pattern = shape.pattern
    if pattern is not None and pattern.fullmatch(value) is None:
        constraint = f"Member must satisfy regular expression pattern: {shape.pattern_text}"
        found.append(Violation(path, Rule.PATTERN, constraint, value, shape))
    if shape.min is not None or shape.max is not None:
        _length(shape, value, len(value), path, found)
    enum_values = shape.enum
    if enum_values is not None and value not in enum_values:
        found.append(
            Violation(path, Rule.ENUM, f"Member must satisfy enum value set: [{', '.join(enum_values)}]", value, shape)
        )


def _length(shape: Shape, value: Any, length: int, path: str, found: list[Violation]) -> None:
    low = shape.min
    if low is not None and length < low:
        found.append(
            Violation(path, Rule.MIN_LENGTH, f"Member must have length greater than or equal to {low}", value, shape)
        )
    high = shape.max
    if high is not None and length > high:
        found.append(
            Violation(path, Rule.MAX_LENGTH, f"Member must have length less than or equal to {high}", value, shape)
        )


def _range(shape: Shape, value: float, path: str, found: list[Violation]) -> None:
    low = shape.min
    if low is not None and value < low:
        found.append(
            Violation(path, Rule.MIN_VALUE, f"Member must have value greater than or equal to {low}", value, shape)
        )
    high = shape.max
    if high is not None and value > high:
        found.append(
            Violation(path, Rule.MAX_VALUE, f"Member must have value less than or equal to {high}", value, shape)
        )


def _null(path: str, shape: Shape) -> Violation:
    return Violation(path, Rule.REQUIRED, "Member must not be null", None, shape)


def render_value(value: Any, shape: Shape | None) -> str:
    """Roughly Java's toString of the value, as AWS echoes it in validation messages."""
    if shape is not None and shape.sensitive:
        return REDACTED
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        element = shape.member.shape if shape is not None and shape.member is not None else None
        return "[" + ", ".join(render_value(item, element) for item in value) + "]"
    if isinstance(value, dict):
        if shape is not None and shape.type == "structure" and not shape.document:
            parts = []
            for name, item in value.items():
                member = shape.members.get(name)
                parts.append(f"{name}: {render_value(item, member.shape if member else None)}")
            return "{" + ", ".join(parts) + "}"
        value_shape = shape.value.shape if shape is not None and shape.value is not None else None
        return "{" + ", ".join(f"{k}={render_value(v, value_shape)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
