"""Handler results and errors -> Query protocol XML, exactly as AWS (and botocore) shape it.

Results::

    <CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
      <CreateUserResult>...</CreateUserResult>
      <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata>
    </CreateUserResponse>

(no XML declaration and no whitespace between elements, like IAM; botocore accepts both).
The output shape drives everything: element names are member names (or ``locationName``),
lists are ``<Name><member>..</member></Name>`` (flattened lists repeat the element without a
wrapper; an empty list is ``<Name/>`` so clients see ``[]``), maps
``<entry><key>..</key><value>..</value></entry>``, booleans ``true``/``false``, timestamps ISO
8601 UTC to the second (``2024-01-02T03:04:05Z``; datetime, or epoch seconds as int/float),
blobs base64 (bytes, or str encoded as UTF-8).  Members absent or None are omitted; members are
written in model order.

IAM policy documents (string shape ``policyDocumentType``) are sent percent-encoded, as AWS
does: handlers give the JSON text, botocore's ``json_decode_policies`` unquotes and loads it.

Text escaping: ``&``, ``<``, ``>`` become entities and CR becomes ``&#13;`` (so it survives XML
line-end normalization); tab and LF are written as is.  Characters XML 1.0 cannot carry at all,
not even as character references (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF, lone
surrogates), are replaced by U+FFFD.

Handler bugs surface as :class:`TypeError`: a result key the output shape does not have, or a
value of the wrong kind (the message names the member path).
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from iamd.core.errors import AwsError
from iamd.web.protocol.model import Member, ServiceSpec, Shape

_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES: dict[int, str] = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\r"): "&#13;"}
_ESCAPES.update({c: "\ufffd" for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]})
_ESCAPES.update({c: "\ufffd" for c in range(0xD800, 0xE000)})


def escape_text(text: str) -> str:
    """``text`` made safe as XML 1.0 character data (see the module docstring)."""
    if _SPECIAL.search(text) is None:
        return text
    return text.translate(_ESCAPES)


def _escape_attribute(text: str) -> str:
    return escape_text(text).replace('"', "&quot;")


class _BadValue(TypeError):
    """A result value that does not fit its shape; ``path`` grows as the error unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def serialize_result(service: ServiceSpec, operation: str, result: Mapping[str, Any] | None, request_id: str) -> bytes:
    op = service.operations.get(operation)
    if op is None:
        raise ValueError(f"{service.name} has no operation {operation}")
    out: list[str] = [f'<{operation}Response xmlns="{_escape_attribute(service.xml_namespace)}">']
    if op.output_shape is not None:
        shape = service.compiled(op.output_shape)
        wrapper = op.result_wrapper
        if wrapper:
            out.append(f"<{wrapper}>")
        if result:
            try:
                _write_structure(shape, result, out)
            except _BadValue as err:
                where = "".join(p if p.startswith("[") else f".{p}" for p in reversed(err.path))[1:] or "result"
                raise TypeError(f"{service.name}:{operation} result {where}: {err.problem}") from None
        if wrapper:
            out.append(f"</{wrapper}>")
    elif result:
        raise TypeError(f"{service.name}:{operation} has no output, but the handler returned {sorted(result)}")
    out.append(f"<ResponseMetadata><RequestId>{escape_text(request_id)}</RequestId></ResponseMetadata>")
    out.append(f"</{operation}Response>")
    return "".join(out).encode("utf-8")


def serialize_error(error: AwsError, request_id: str, xml_namespace: str | None = None) -> bytes:
    namespace = f' xmlns="{_escape_attribute(xml_namespace)}"' if xml_namespace else ""
    return (
        f"<ErrorResponse{namespace}><Error><Type>{error.fault_type}</Type>"
        f"<Code>{escape_text(error.code)}</Code>"
        f"<Message>{escape_text(error.message)}</Message></Error>"
        f"<RequestId>{escape_text(request_id)}</RequestId></ErrorResponse>"
    ).encode()


# --- the shape walk ---------------------------------------------------------------------------


def _write_structure(shape: Shape, value: Any, out: list[str]) -> None:
    if not isinstance(value, Mapping):
        raise _BadValue(f"expected a mapping for structure {shape.name}, got {type(value).__name__}")
    members = shape.members
    for key in value:
        if key not in members:
            raise _BadValue(f"unknown member {key!r} for {shape.name} (members: {', '.join(members)})")
    for name, member in members.items():
        item = value.get(name)
        if item is None:
            continue
        try:
            _write_member(member, item, out)
        except _BadValue as err:
            err.path.append(name)
            raise


def _write_member(member: Member, value: Any, out: list[str]) -> None:
    shape = member.shape
    kind = shape.type
    if kind == "string":
        if not isinstance(value, str):
            raise _BadValue(f"expected str for {shape.name}, got {type(value).__name__}")
        text = quote(value, safe="") if shape.is_policy_document else escape_text(value)
        out.append(f"{member.open_tag}{text}{member.close_tag}")
    elif kind == "structure":
        out.append(member.open_tag)
        _write_structure(shape, value, out)
        out.append(member.close_tag)
    elif kind == "list":
        _write_list(member, value, out)
    elif kind == "map":
        _write_map(member, value, out)
    else:
        out.append(f"{member.open_tag}{_scalar_text(shape, value)}{member.close_tag}")


def _write_list(member: Member, value: Any, out: list[str]) -> None:
    shape = member.shape
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise _BadValue(f"expected a list for {shape.name}, got {type(value).__name__}")
    element = shape.member
    assert element is not None
    if shape.flattened:
        # The element repeats under the member's own name (Member.wire already accounts for it).
        element = Member(element.name, member.wire, element.label, element.shape)
    else:
        out.append(member.open_tag)
    empty = True
    for position, item in enumerate(value):
        empty = False
        if item is None:
            raise _BadValue(f"None element in list {shape.name}")
        try:
            _write_member(element, item, out)
        except _BadValue as err:
            err.path.append(f"[{position}]")
            raise
    if not shape.flattened:
        if empty:
            out[-1] = member.empty_tag
        else:
            out.append(member.close_tag)


def _write_map(member: Member, value: Any, out: list[str]) -> None:
    shape = member.shape
    if not isinstance(value, Mapping):
        raise _BadValue(f"expected a mapping for map {shape.name}, got {type(value).__name__}")
    key_member, value_member = shape.key, shape.value
    assert key_member is not None and value_member is not None
    if not shape.flattened:
        if not value:
            out.append(member.empty_tag)
            return
        out.append(member.open_tag)
    entry_open, entry_close = (member.open_tag, member.close_tag) if shape.flattened else ("<entry>", "</entry>")
    for key, item in value.items():
        if item is None:
            continue
        out.append(entry_open)
        try:
            _write_member(key_member, key, out)
            _write_member(value_member, item, out)
        except _BadValue as err:
            err.path.append(f"[{key!r}]")
            raise
        out.append(entry_close)
    if not shape.flattened:
        out.append(member.close_tag)


def _scalar_text(shape: Shape, value: Any) -> str:
    kind = shape.type
    if kind in ("integer", "long", "short", "byte"):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
    elif kind == "timestamp":
        return format_timestamp(value)
    elif kind == "blob":
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes | bytearray | memoryview):
            return base64.b64encode(value).decode("ascii")
    elif kind in ("float", "double"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isnan(number):
                return "NaN"
            if math.isinf(number):
                return "Infinity" if number > 0 else "-Infinity"
            return repr(number)
    elif kind == "character" and isinstance(value, str):
        return escape_text(value)
    raise _BadValue(f"expected a {kind} for {shape.name}, got {type(value).__name__} {value!r}")


def format_timestamp(value: Any) -> str:
    """ISO 8601 UTC to the second, ``2024-01-02T03:04:05Z`` (fractions are truncated, as IAM does)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(value)))
    raise _BadValue(f"expected a datetime or epoch seconds for a timestamp, got {type(value).__name__}")
