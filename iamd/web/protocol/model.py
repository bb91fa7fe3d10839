"""The AWS service models (botocore's JSON) as the protocol layer uses them.

botocore's ``service-2`` models are the single source of truth for the wire format of every
protocol iamd speaks (``query``, ``json``, ``rest-json``): operation names and HTTP bindings,
input and output shapes, member wire names and locations, constraints.  :class:`ServiceSpec`
wraps one loaded model; :meth:`ServiceSpec.compiled` turns a shape into a :class:`Shape` graph
(members resolved, wire names, lowerCamel labels, XML tags and JSON keys precomputed) once,
lazily and cached, so the per-request parsers and serializers never walk the raw model.

Member traits follow botocore's reading of the model: a member reference's own traits
(``locationName``, ``timestampFormat`` ...) override those of the shape it targets, and the JSON
key of a member is its ``locationName`` or else its name (botocore ignores ``jsonName``).

Model patterns are Java regular expressions (``\\p{L}``, ASCII ``\\w``, ``\\u10000`` meaning a
supplementary code point); :func:`compile_pattern` translates them to Python ``re``.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The string shape IAM uses for every policy document (botocore's ``json_decode_policies`` keys on it).
POLICY_DOCUMENT_SHAPE = "policyDocumentType"

#: Shape types that are leaves (a single query parameter, a single XML text node).
SCALAR_TYPES = frozenset(
    {"string", "character", "integer", "long", "short", "byte", "float", "double", "boolean", "timestamp", "blob"}
)

#: The protocols iamd has a parser and serializer for.
PROTOCOLS = frozenset({"query", "json", "rest-json"})

#: Operation authentication, normalized from the model's ``authtype`` / ``auth`` traits.
AUTH_SIGV4 = "v4"
AUTH_NONE = "none"
AUTH_BEARER = "bearer"


@dataclass(frozen=True)
class OperationSpec:
    name: str
    input_shape: str | None
    output_shape: str | None
    result_wrapper: str | None
    error_shapes: tuple[str, ...]
    http_method: str = "POST"
    """The ``http`` trait's method (``GET``, ``PUT`` ...); Query and JSON operations are POSTs."""
    request_uri: str = "/"
    """The ``http`` trait's URI template (``/trustanchor/{trustAnchorId}``, ``/token?aws_iam=t``)."""
    response_code: int = 200
    """The HTTP status of a successful answer (``responseCode``; 201 for some REST creates)."""
    auth_type: str = AUTH_SIGV4
    """:data:`AUTH_SIGV4` (signed), :data:`AUTH_NONE` (``authtype: none``/``smithy.api#noAuth``:
    the request carries no SigV4 signature) or :data:`AUTH_BEARER` (an HTTP bearer token)."""

    @property
    def unsigned(self) -> bool:
        """True when the operation is called without a SigV4 signature."""
        return self.auth_type != AUTH_SIGV4


def _auth_type(op: Mapping[str, Any]) -> str:
    authtype = op.get("authtype")
    schemes = op.get("auth") or ()
    if authtype == "none" or (schemes and schemes[0] == "smithy.api#noAuth"):
        return AUTH_NONE
    if authtype == "bearer" or (schemes and schemes[0] == "smithy.api#httpBearerAuth"):
        return AUTH_BEARER
    return AUTH_SIGV4


class Member:
    """One member of a structure (or the element of a list, the key or value of a map)."""

    __slots__ = (
        "close_tag",
        "empty_tag",
        "host_label",
        "idempotency_token",
        "json_key",
        "json_value",
        "label",
        "location",
        "location_name",
        "name",
        "open_tag",
        "shape",
        "timestamp_format",
        "wire",
    )

    def __init__(
        self,
        name: str,
        wire: str,
        label: str,
        shape: Shape,
        *,
        location: str | None = None,
        location_name: str | None = None,
        timestamp_format: str | None = None,
        idempotency_token: bool = False,
        host_label: bool = False,
        json_value: bool = False,
    ) -> None:
        self.name = name
        """The model's member name: the key in parsed input and in handler results."""
        self.wire = wire
        """The name on the wire: query parameter component and XML element name."""
        self.label = label
        """lowerCamelCase name used in validation messages (``userName``)."""
        self.shape = shape
        self.open_tag = f"<{wire}>"
        self.close_tag = f"</{wire}>"
        self.empty_tag = f"<{wire}/>"
        self.location = location
        """REST binding: ``uri``, ``querystring``, ``header``, ``headers`` (a prefix), ``statusCode``;
        None for a member carried in the body."""
        self.location_name = location_name
        """The raw ``locationName``: URI label, query parameter, header name or header prefix."""
        self.json_key = location_name if location_name is not None else name
        """The key of this member in a JSON body."""
        self.timestamp_format = timestamp_format
        """``unixTimestamp``, ``iso8601`` or ``rfc822`` when the model fixes it (else the protocol's
        default for where the value travels)."""
        self.idempotency_token = idempotency_token
        self.host_label = host_label
        self.json_value = json_value
        """A header carrying base64-encoded JSON (``jsonvalue``)."""

    def __repr__(self) -> str:
        return f"Member({self.name!r} -> {self.shape.name})"


class Shape:
    """A compiled model shape; children are resolved :class:`Member` objects."""

    __slots__ = (
        "_pattern",
        "body_members",
        "document",
        "enum",
        "error_code",
        "error_status",
        "exception",
        "flattened",
        "is_policy_document",
        "key",
        "max",
        "member",
        "members",
        "members_by_json",
        "members_by_wire",
        "min",
        "name",
        "pattern_text",
        "payload",
        "raw",
        "required",
        "scalar",
        "sensitive",
        "timestamp_format",
        "type",
        "union",
        "value",
    )

    def __init__(self, name: str, raw: Mapping[str, Any]) -> None:
        self.name = name
        self.raw = raw
        self.type: str = raw["type"]
        self.scalar = self.type in SCALAR_TYPES
        self.members: dict[str, Member] = {}
        """Structure members by model name, in model order."""
        self.members_by_wire: dict[str, Member] = {}
        self.required: frozenset[str] = frozenset(raw.get("required", ()))
        self.member: Member | None = None
        """List element."""
        self.key: Member | None = None
        self.value: Member | None = None
        self.flattened = bool(raw.get("flattened", False))
        self.min: int | float | None = raw.get("min")
        self.max: int | float | None = raw.get("max")
        self.pattern_text: str | None = raw.get("pattern")
        self._pattern: re.Pattern[str] | None = None
        enum = raw.get("enum")
        self.enum: tuple[str, ...] | None = tuple(enum) if enum is not None else None
        self.sensitive = bool(raw.get("sensitive", False))
        self.is_policy_document = self.type == "string" and name == POLICY_DOCUMENT_SHAPE
        self.members_by_json: dict[str, Member] = {}
        """Structure members by JSON key."""
        self.body_members: tuple[Member, ...] = ()
        """Structure members without a REST location (they travel in the JSON body)."""
        self.payload: str | None = raw.get("payload")
        """The member that is the whole HTTP body (REST protocols), if the structure names one."""
        self.document = bool(raw.get("document", False))
        """A ``document``: any JSON value, passed through untyped."""
        self.union = bool(raw.get("union", False))
        """A tagged union: exactly one member is set."""
        self.timestamp_format: str | None = raw.get("timestampFormat")
        self.exception = bool(raw.get("exception", False))
        error = raw.get("error") or {}
        self.error_code: str = error.get("code", name)
        """For an exception shape: the error code on the wire (``error.code``, else the shape name)."""
        self.error_status: int | None = error.get("httpStatusCode")

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The model pattern compiled for Python (full-match semantics are the caller's)."""
        if self._pattern is None and self.pattern_text is not None:
            self._pattern = compile_pattern(self.pattern_text)
        return self._pattern

    def __repr__(self) -> str:
        return f"Shape({self.name!r}, {self.type})"


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class ServiceSpec:
    """One loaded botocore service model."""

    def __init__(self, name: str, model: Mapping[str, Any]) -> None:
        metadata = model["metadata"]
        protocol = metadata.get("protocol")
        if protocol not in PROTOCOLS:
            raise ValueError(f"service {name} speaks {protocol!r}; iamd speaks only {', '.join(sorted(PROTOCOLS))}")
        self.name = name
        self.protocol: str = protocol
        """``query``, ``json`` (AWS JSON 1.0/1.1) or ``rest-json``."""
        self.api_version: str = metadata["apiVersion"]
        self.xml_namespace: str = metadata.get("xmlNamespace", "")
        """The Query protocol's XML namespace ("" for the JSON protocols)."""
        self.target_prefix: str | None = metadata.get("targetPrefix")
        """JSON protocol: ``X-Amz-Target`` is ``<targetPrefix>.<Operation>``."""
        self.json_version: str | None = metadata.get("jsonVersion")
        """JSON protocol: the ``1.1`` of ``application/x-amz-json-1.1``."""
        self.endpoint_prefix: str = metadata.get("endpointPrefix", name)
        self.signing_name: str = metadata.get("signingName", self.endpoint_prefix)
        """The service in a SigV4 credential scope (``awsssoportal`` for sso, ``sso-oauth`` ...)."""
        self._shapes: Mapping[str, Mapping[str, Any]] = model["shapes"]
        operations: dict[str, OperationSpec] = {}
        for op_name, op in model["operations"].items():
            inp = op.get("input")
            out = op.get("output")
            http = op.get("http") or {}
            operations[op_name] = OperationSpec(
                name=op_name,
                input_shape=inp["shape"] if inp else None,
                output_shape=out["shape"] if out else None,
                result_wrapper=out.get("resultWrapper") if out else None,
                error_shapes=tuple(err["shape"] for err in op.get("errors", ())),
                http_method=http.get("method", "POST"),
                request_uri=http.get("requestUri", "/"),
                response_code=http.get("responseCode", 200),
                auth_type=_auth_type(op),
            )
        self.operations: Mapping[str, OperationSpec] = operations
        self._compiled: dict[str, Shape] = {}
        self._lock = threading.Lock()
        self._error_codes: dict[str, str] | None = None

    def error_shape(self, code: str) -> Shape | None:
        """The compiled exception shape whose error code is ``code``, if the model has one."""
        codes = self._error_codes
        if codes is None:
            codes = {}
            for shape_name, raw in self._shapes.items():
                if raw.get("exception"):
                    codes[(raw.get("error") or {}).get("code", shape_name)] = shape_name
            self._error_codes = codes
        found = codes.get(code)
        return self.compiled(found) if found is not None else None

    def shape(self, name: str) -> Mapping[str, Any]:
        """The raw model definition of shape ``name`` (KeyError if unknown)."""
        return self._shapes[name]

    def compiled(self, name: str) -> Shape:
        """Shape ``name`` compiled with its whole subgraph (built once, then cached)."""
        shape = self._compiled.get(name)
        if shape is not None:
            return shape
        with self._lock:
            pending: dict[str, Shape] = {}
            shape = self._build(name, pending)
            # Publish only complete graphs: readers without the lock never see half-built shapes.
            self._compiled.update(pending)
            return shape

    def _build(self, name: str, pending: dict[str, Shape]) -> Shape:
        done = self._compiled.get(name) or pending.get(name)
        if done is not None:
            return done
        raw = self._shapes[name]
        shape = Shape(name, raw)
        pending[name] = shape  # before the children: recursive shapes terminate
        kind = shape.type
        if kind == "structure":
            for member_name, ref in raw.get("members", {}).items():
                member = self._member(member_name, member_name, ref, pending)
                shape.members[member_name] = member
                shape.members_by_wire[member.wire] = member
                shape.members_by_json[member.json_key] = member
            shape.body_members = tuple(m for m in shape.members.values() if m.location is None)
        elif kind == "list":
            shape.member = self._member("member", "member", raw["member"], pending)
        elif kind == "map":
            shape.key = self._member("key", "key", raw["key"], pending)
            shape.value = self._member("value", "value", raw["value"], pending)
        return shape

    def _member(self, name: str, default_wire: str, ref: Mapping[str, Any], pending: dict[str, Shape]) -> Member:
        target = self._build(ref["shape"], pending)
        wire: str = ref.get("locationName", default_wire)
        if target.type == "list" and target.flattened:
            # A flattened list with a named element is serialized under the element's name
            # (botocore: QuerySerializer._serialize_type_list, BaseXMLResponseParser._member_key_name).
            element_ref = self._shapes[target.name]["member"]
            wire = element_ref.get("locationName", wire)
        return Member(
            name,
            wire,
            lower_camel(name),
            target,
            location=ref.get("location"),
            location_name=ref.get("locationName"),
            timestamp_format=ref.get("timestampFormat", target.timestamp_format),
            idempotency_token=bool(ref.get("idempotencyToken", False)),
            host_label=bool(ref.get("hostLabel", False)),
            json_value=bool(ref.get("jsonvalue", False)),
        )


@functools.cache
def load_service(name: str) -> ServiceSpec:
    """The botocore model of ``name`` ("iam", "sts", "organizations" ...), loaded once per process."""
    from botocore.loaders import Loader

    return ServiceSpec(name, Loader().load_service_model(name, "service-2"))


# --- Java regular expressions -> Python ---------------------------------------------------


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a model (Java) pattern for Python ``re``, once per distinct pattern.

    * ``\\w``, ``\\d``, ``\\s`` are ASCII-only in Java: compiled with ``re.ASCII``.
    * ``\\p{X}`` / ``\\P{X}`` (Unicode general categories, e.g. ``L``, ``Lu``, ``Z``, ``N``) become
      explicit code point ranges from :mod:`unicodedata`.
    * ``\\uXXXXX`` / ``\\u10XXXX`` (five or six hex digits, value above U+FFFF, as in STS's
      ``\\u10000-\\u10FFFF``) are read as the supplementary code point the model means.
    """
    return re.compile(translate_pattern(pattern), re.ASCII)


_HEX = frozenset("0123456789abcdefABCDEF")


def translate_pattern(pattern: str) -> str:
    out: list[str] = []
    i = 0
    n = len(pattern)
    in_class = False
    class_start = -1
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP":
                end, ranges = _category_escape(pattern, i)
                out.append(ranges if in_class else f"[{ranges}]")
                i = end
                continue
            if nxt == "u":
                digits = 0
                while digits < 7 and i + 2 + digits < n and pattern[i + 2 + digits] in _HEX:
                    digits += 1
                code = _supplementary(pattern[i + 2 : i + 2 + digits])
                if code is not None:
                    out.append(f"\\U{code:08X}")
                    i += 2 + digits
                    continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]" and i > class_start:
                in_class = False
            elif ch == "[":
                raise ValueError(f"nested character classes are not supported: {pattern!r}")
        elif ch == "[":
            in_class = True
            # A ']' right after '[' or '[^' is a literal.
            class_start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _supplementary(hex_digits: str) -> int | None:
    """The code point of a \\u escape with exactly 5 hex digits (10000-FFFFF) or 6 (100000-10FFFF).

    Java reads ``\\u10000`` as U+1000 followed by ``0``; the models mean U+10000 (the STS pattern
    ``[...\\uE000-\\uFFFD\\u10000-\\u10FFFF]`` lists the Unicode ranges XML allows).
    """
    if len(hex_digits) == 5 and hex_digits[0] != "0":
        return int(hex_digits, 16)
    if len(hex_digits) == 6 and hex_digits.startswith("10"):
        return int(hex_digits, 16)
    return None


def _category_escape(pattern: str, start: int) -> tuple[int, str]:
    negate = pattern[start + 1] == "P"
    if pattern[start + 2 : start + 3] == "{":
        close = pattern.find("}", start + 3)
        if close < 0:
            raise ValueError(f"unterminated \\p{{...}} in {pattern!r}")
        name = pattern[start + 3 : close]
        end = close + 1
    else:
        name = pattern[start + 2 : start + 3]
        end = start + 3
    if name.startswith("Is"):
        name = name[2:]
    if not (1 <= len(name) <= 2) or not name[0].isupper():
        raise ValueError(f"unsupported Unicode property \\p{{{name}}} in {pattern!r}")
    ranges = _category_ranges(name)
    if negate:
        ranges = _complement(ranges)
    return end, "".join(f"\\U{lo:08X}" if lo == hi else f"\\U{lo:08X}-\\U{hi:08X}" for lo, hi in ranges)


@functools.cache
def _category_ranges(category: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges whose general category is ``category`` (one letter: any subcategory)."""
    table = _category_table()
    found: list[tuple[int, int]] = []
    for lo, hi, cat in table:
        if cat == category or cat[0] == category:
            if found and found[-1][1] == lo - 1:
                found[-1] = (found[-1][0], hi)
            else:
                found.append((lo, hi))
    if not found:
        raise ValueError(f"unknown Unicode general category {category!r}")
    return tuple(found)


@functools.cache
def _category_table() -> tuple[tuple[int, int, str], ...]:
    """Runs of equal general category over all of Unicode (~0.1 s, computed once, on first need)."""
    category = unicodedata.category
    runs: list[tuple[int, int, str]] = []
    start = 0
    current = category("\x00")
    for cp in range(1, sys.maxunicode + 1):
        cat = category(chr(cp))
        if cat != current:
            runs.append((start, cp - 1, current))
            start = cp
            current = cat
    runs.append((start, sys.maxunicode, current))
    return tuple(runs)


def _complement(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return tuple(out)
