"""JSON bodies <-> typed values, driven by the model; shared by AWS JSON 1.1 and REST-JSON.

Reading (:func:`read_structure`) turns a decoded JSON object into the typed input handlers get:
member names instead of JSON keys, ``datetime`` (UTC) for timestamps, ``bytes`` for blobs,
``int`` / ``float`` / ``bool`` / ``str`` checked against the shape.  A value of the wrong JSON
type, bad base64, a timestamp in the wrong form, an integer outside its type's range, a null
inside a list or map, a union without exactly one member: :class:`SerializationException`, the
error AWS answers for a body it cannot deserialize.  Unknown keys and ``null`` members are
ignored; documents pass through untouched.

Writing (:func:`write_structure`) turns a handler's result into JSON-ready values: timestamps as
epoch seconds (or the model's ``timestampFormat``), blobs base64, non-finite floats as the
strings ``NaN`` / ``Infinity`` / ``-Infinity``; members None are omitted.  A result key the shape
does not have or a value of the wrong kind is a handler bug: :class:`TypeError` naming the path.

Errors (:func:`error_members`): the message and the error's extra fields, laid out as the
service model's exception shape says (``Message`` or ``message``, ``Reason`` ...).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, NamedTuple

from iamd.core.errors import AwsError, AwsErrorWithFields, SerializationException
from iamd.web.protocol.model import Member, ServiceSpec, Shape

UNIX_TIMESTAMP = "unixTimestamp"
ISO8601 = "iso8601"
RFC822 = "rfc822"

_INT_BOUNDS = {
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
_EPOCH_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


class WireResponse(NamedTuple):
    """One HTTP answer: status, headers (name, value) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


# --- JSON text ---------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body`` ({} for an empty body); anything else: SerializationException."""
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationException(f"The request body is not valid UTF-8 (byte offset {exc.start}).") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise SerializationException("The request body nests JSON values too deeply.") from None
    except ValueError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SerializationException(f"The request body must be a JSON object, not {_json_type(value)}.")
    return value


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate in a string is written as its ``\\uXXXX`` escape."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "backslashreplace")


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


# --- timestamps ----------------------------------------------------------------------------------


def epoch_seconds(value: datetime) -> int | float:
    """Epoch seconds of ``value`` (naive = UTC): an int when whole, else to the millisecond."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    whole = calendar.timegm(value.timetuple())
    if value.microsecond == 0:
        return whole
    return round(whole + value.microsecond / 1_000_000, 3)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC)
    raise TypeError(f"expected a datetime or epoch seconds for a timestamp, got {type(value).__name__}")


def format_timestamp(value: Any, fmt: str) -> int | float | str:
    """``value`` (datetime, or epoch seconds) in wire format ``fmt``."""
    stamp = _as_datetime(value)
    if fmt == UNIX_TIMESTAMP:
        return epoch_seconds(stamp)
    if fmt == ISO8601:
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
        if stamp.microsecond:
            text += f".{stamp.microsecond // 1000:03d}"
        return text + "Z"
    if fmt == RFC822:
        return formatdate(calendar.timegm(stamp.timetuple()), usegmt=True)
    raise ValueError(f"unknown timestamp format {fmt!r}")


def parse_timestamp_text(text: str, fmt: str) -> datetime | None:
    """A timestamp written as text in format ``fmt`` (epoch seconds as digits for
    ``unixTimestamp``), or None if it is not one."""
    try:
        if fmt == ISO8601:
            stamp = datetime.fromisoformat(text)
            if "T" not in text.upper():
                return None
        elif fmt == RFC822:
            stamp = parsedate_to_datetime(text)
        elif fmt == UNIX_TIMESTAMP:
            if _EPOCH_RE.fullmatch(text) is None:
                return None
            return datetime.fromtimestamp(float(text), UTC)
        else:
            return None
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


# --- reading -----------------------------------------------------------------------------------


class _Malformed(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def read_structure(shape: Shape, raw: Mapping[str, Any], members: Iterable[Member] | None = None) -> dict[str, Any]:
    """The typed value of structure ``shape`` read from JSON object ``raw`` (only ``members``,
    when given: the body members of a REST input)."""
    try:
        return _read_structure(shape, raw, shape.members.values() if members is None else members)
    except _Malformed as err:
        where = ".".join(reversed(err.path))
        raise SerializationException(f"Cannot read '{where}': {err.problem}." if where else err.problem) from None


def _read_member(member: Member, raw: Any) -> Any:
    try:
        return _read(member, member.shape, raw)
    except _Malformed as err:
        err.path.append(member.label)
        raise


def _read(member: Member, shape: Shape, raw: Any) -> Any:
    kind = shape.type
    if kind == "structure":
        if shape.document:
            return raw
        if not isinstance(raw, dict):
            raise _Malformed(f"expected a JSON object, got {_json_type(raw)}")
        return _read_structure(shape, raw, shape.members.values())
    if kind == "list":
        if not isinstance(raw, list):
            raise _Malformed(f"expected a JSON array, got {_json_type(raw)}")
        element = shape.member
        assert element is not None
        items: list[Any] = []
        for position, item in enumerate(raw, 1):
            try:
                if item is None:
                    raise _Malformed("null is not allowed in a list")
                items.append(_read(element, element.shape, item))
            except _Malformed as err:
                err.path.append(f"{position}.member")
                raise
        return items
    if kind == "map":
        if not isinstance(raw, dict):
            raise _Malformed(f"expected a JSON object, got {_json_type(raw)}")
        key_member, value_member = shape.key, shape.value
        assert key_member is not None and value_member is not None
        entries: dict[Any, Any] = {}
        for key, item in raw.items():
            try:
                if item is None:
                    raise _Malformed("null is not allowed as a map value")
                entries[_read(key_member, key_member.shape, key)] = _read(value_member, value_member.shape, item)
            except _Malformed as err:
                err.path.append(key)
                raise
        return entries
    return read_scalar(member, shape, raw)


def _read_structure(shape: Shape, raw: Mapping[str, Any], members: Iterable[Member]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for member in members:
        item = raw.get(member.json_key)
        if item is not None:
            out[member.name] = _read_member(member, item)
    if shape.union and len(out) != 1:
        names = ", ".join(shape.members)
        raise _Malformed(f"a {shape.name} must set exactly one of its members ({names}); {len(out)} are set")
    return out


def read_scalar(member: Member, shape: Shape, raw: Any) -> Any:
    kind = shape.type
    if kind in ("string", "character"):
        if isinstance(raw, str):
            return raw
        raise _Malformed(f"expected a JSON string, got {_json_type(raw)}")
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        raise _Malformed(f"expected true or false, got {_json_type(raw)}")
    if kind in _INT_BOUNDS:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise _Malformed(f"expected an integer, got {_json_type(raw)}")
        low, high = _INT_BOUNDS[kind]
        if not low <= raw <= high:
            raise _Malformed(f"{raw} is out of range for a {kind} ({low} to {high})")
        return raw
    if kind in ("float", "double"):
        if isinstance(raw, str) and raw in _NON_FINITE:
            return _NON_FINITE[raw]
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        raise _Malformed(f"expected a number, got {_json_type(raw)}")
    if kind == "timestamp":
        return _read_timestamp(member, raw)
    if kind == "blob":
        if not isinstance(raw, str):
            raise _Malformed(f"expected a base64 string, got {_json_type(raw)}")
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _Malformed("not valid base64") from None
    raise TypeError(f"unsupported shape type {kind!r} ({shape.name})")


def _read_timestamp(member: Member, raw: Any) -> datetime:
    fmt = member.timestamp_format or UNIX_TIMESTAMP
    if fmt == UNIX_TIMESTAMP:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            try:
                return datetime.fromtimestamp(raw, UTC)
            except (ValueError, OverflowError, OSError):
                raise _Malformed(f"{raw} is not a valid time") from None
        raise _Malformed(f"expected epoch seconds (a number), got {_json_type(raw)}")
    if isinstance(raw, str):
        stamp = parse_timestamp_text(raw, fmt)
        if stamp is not None:
            return stamp
        raise _Malformed(f"{raw!r} is not an {fmt} timestamp")
    raise _Malformed(f"expected an {fmt} timestamp string, got {_json_type(raw)}")


# --- writing -----------------------------------------------------------------------------------


class _BadValue(TypeError):
    """A result value that does not fit its shape; ``path`` grows as the error unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def write_structure(
    shape: Shape, value: Mapping[str, Any], members: Iterable[Member] | None = None, *, what: str = "result"
) -> dict[str, Any]:
    """The JSON object for structure ``shape`` holding ``value`` (only ``members``, when given)."""
    try:
        return _write_structure(shape, value, shape.members.values() if members is None else members)
    except _BadValue as err:
        where = "".join(p if p.startswith("[") else f".{p}" for p in reversed(err.path))[1:] or what
        raise TypeError(f"{shape.name} {what} {where}: {err.problem}") from None


def _write_structure(shape: Shape, value: Any, members: Iterable[Member]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _BadValue(f"expected a mapping for structure {shape.name}, got {type(value).__name__}")
    for key in value:
        if key not in shape.members:
            raise _BadValue(f"unknown member {key!r} for {shape.name} (members: {', '.join(shape.members)})")
    out: dict[str, Any] = {}
    for member in members:
        item = value.get(member.name)
        if item is None:
            continue
        try:
            out[member.json_key] = write_value(member, member.shape, item)
        except _BadValue as err:
            err.path.append(member.name)
            raise
    return out


def write_value(member: Member, shape: Shape, value: Any) -> Any:
    kind = shape.type
    if kind == "structure":
        if shape.document:
            return value
        return _write_structure(shape, value, shape.members.values())
    if kind == "list":
        if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
            raise _BadValue(f"expected a list for {shape.name}, got {type(value).__name__}")
        element = shape.member
        assert element is not None
        items = []
        for position, item in enumerate(value):
            try:
                if item is None:
                    raise _BadValue(f"None element in list {shape.name}")
                items.append(write_value(element, element.shape, item))
            except _BadValue as err:
                err.path.append(f"[{position}]")
                raise
        return items
    if kind == "map":
        if not isinstance(value, Mapping):
            raise _BadValue(f"expected a mapping for map {shape.name}, got {type(value).__name__}")
        value_member = shape.value
        assert value_member is not None
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            if not isinstance(key, str):
                raise _BadValue(f"map {shape.name} keys must be str, got {type(key).__name__}")
            try:
                out[key] = write_value(value_member, value_member.shape, item)
            except _BadValue as err:
                err.path.append(f"[{key!r}]")
                raise
        return out
    return _write_scalar(member, shape, value)


def _write_scalar(member: Member, shape: Shape, value: Any) -> Any:
    kind = shape.type
    if kind in ("string", "character"):
        if isinstance(value, str):
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind in _INT_BOUNDS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind in ("float", "double"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isnan(number):
                return "NaN"
            if math.isinf(number):
                return "Infinity" if number > 0 else "-Infinity"
            return number
    elif kind == "timestamp":
        try:
            return format_timestamp(value, member.timestamp_format or UNIX_TIMESTAMP)
        except (TypeError, ValueError, OverflowError, OSError) as exc:
            raise _BadValue(str(exc)) from None
    elif kind == "blob":
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes | bytearray | memoryview):
            return base64.b64encode(value).decode("ascii")
    raise _BadValue(f"expected a {kind} for {shape.name}, got {type(value).__name__} {value!r}")


# --- errors --------------------------------------------------------------------------------------


def error_fields(error: AwsError) -> dict[str, Any]:
    return dict(error.fields) if isinstance(error, AwsErrorWithFields) else {}


def error_members(spec: ServiceSpec | None, error: AwsError) -> tuple[Shape | None, dict[str, Any]]:
    """The service's exception shape for ``error`` (None if its model has none) and the member
    values to write: the message under the shape's own message member (``Message`` or
    ``message``; none when the shape has no such member, as SSO-OIDC's OAuth errors), then the
    error's fields.  Without a shape: ``message`` and the fields as they are."""
    shape = spec.error_shape(error.code) if spec is not None else None
    values: dict[str, Any] = {}
    if shape is None:
        values["message"] = error.message
    else:
        message_member = next((name for name in shape.members if name.lower() == "message"), None)
        if message_member is not None:
            values[message_member] = error.message
    values.update(error_fields(error))
    return shape, values


def error_body(
    shape: Shape | None, values: Mapping[str, Any], members: Iterable[Member] | None = None
) -> dict[str, Any]:
    """The JSON object of an error from :func:`error_members`."""
    if shape is None:
        return {key: value for key, value in values.items() if value is not None}
    return write_structure(shape, values, members, what="error")
