"""The IAM policy grammar: parse a JSON document into ``Policy`` or raise AWS's error.

Every rejection is a ``MalformedPolicyDocument`` carrying the message IAM gives for it
("Syntax errors in policy.", "Policy statement must contain resources.", ...).  The checks run in
the order IAM appears to run them, so a document with several faults gets the same message.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from iamd.core.errors import MalformedPolicyDocument
from iamd.policy.operators import Family, Operator, parse_date, parse_operator

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
VERSIONS = (VERSION_2012, VERSION_2008)

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
VERSION_REQUIRED = "Policy document must be version 2012-10-17 or greater."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
PRINCIPAL_REQUIRED = "Missing required field Principal"
RESOURCE_PROHIBITED = "Has prohibited field Resource"
SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
SID_ALNUM = (
    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
)
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
TRUST_ACTIONS = "AssumeRole policy may only specify STS AssumeRole actions."
VENDOR_REGEX = "Resource vendor must be fully qualified and cannot contain regexes."

IAM_PATH = 'IAM resource path must either be "*", root, or start with {prefixes}.'
REGIONAL_S3_RESOURCES = (
    "accesspoint/",
    "job/",
    "storage-lens/",
    "storage-lens-group/",
    "access-grants/",
    "async-request/",
)
"""S3 resource types whose ARNs carry a Region (the service authorization reference for S3); bucket
and object ARNs must not."""

PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
IAM_RESOURCE_PREFIXES = (
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
)
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")


class PolicyKind(enum.Enum):
    """Where a document is used; it decides which elements are required or refused."""

    MANAGED = "managed"
    USER_INLINE = "user"
    GROUP_INLINE = "group"
    ROLE_INLINE = "role"
    TRUST = "trust"
    SESSION = "session"
    IDENTITY = "identity"
    """Any identity-based policy (inline, managed, boundary, session) compiled for evaluation: no
    size limit, no Version requirement, and an empty Statement list is accepted (it allows nothing)."""
    RESOURCE = "resource"
    """A resource-based policy of another service (bucket policy, queue policy...)."""
    SCP = "scp"
    RCP = "rcp"


_IDENTITY_KINDS = frozenset(
    {
        PolicyKind.MANAGED,
        PolicyKind.USER_INLINE,
        PolicyKind.GROUP_INLINE,
        PolicyKind.ROLE_INLINE,
        PolicyKind.SESSION,
        PolicyKind.IDENTITY,
        PolicyKind.SCP,
    }
)
_EMPTY_ALLOWED = frozenset({PolicyKind.IDENTITY, PolicyKind.SCP, PolicyKind.RCP})
"""Kinds where ``"Statement": []`` is a policy that allows nothing rather than a syntax error."""
_PRINCIPAL_KINDS = frozenset({PolicyKind.TRUST, PolicyKind.RESOURCE, PolicyKind.RCP})
_IAM_SID_KINDS = frozenset(
    {
        PolicyKind.MANAGED,
        PolicyKind.USER_INLINE,
        PolicyKind.GROUP_INLINE,
        PolicyKind.ROLE_INLINE,
        PolicyKind.SESSION,
        PolicyKind.IDENTITY,
        PolicyKind.TRUST,
    }
)


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A Principal / NotPrincipal element.  ``everyone``: ``"*"`` or ``{"AWS": "*"}``."""

    everyone: bool
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionEntry:
    """One operator / key / values triple of a Condition block."""

    operator: Operator
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    allow: bool
    principal: PrincipalSpec | None
    not_principal: PrincipalSpec | None
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    conditions: tuple[ConditionEntry, ...]
    line: int | None = None

    @property
    def effect(self) -> str:
        return "Allow" if self.allow else "Deny"


@dataclass(frozen=True, slots=True)
class Policy:
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]

    @property
    def variables(self) -> bool:
        """Policy variables are resolved only in Version 2012-10-17 documents."""
        return self.version == VERSION_2012


def _fail(message: str) -> NoReturn:
    raise MalformedPolicyDocument(message)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key}")
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def load_json(text: str) -> Any:
    """JSON as IAM reads it: no duplicate keys, no NaN/Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        _fail(SYNTAX)


def parse_policy(document: str | Mapping[str, Any], kind: PolicyKind) -> Policy:
    """Parse and validate a policy document for its use ``kind``.

    The checks run in IAM's order, so a document with several faults gets IAM's message: syntax
    (and a Principal where none may be), the managed-policy Version, legacy parsing (Effect case,
    date values, resource shapes IAM's old parser cannot read), Sids, missing actions, missing
    resources, principals, the first malformed resource, then action prefixes.
    """
    text = document if isinstance(document, str) else None
    doc = load_json(document) if isinstance(document, str) else document
    if not isinstance(doc, Mapping):
        _fail(SYNTAX)
    raw = _syntax(doc, kind)
    version = doc.get("Version")
    if kind is PolicyKind.MANAGED and version != VERSION_2012:
        _fail(VERSION_REQUIRED)
    for st in raw:
        _legacy(st)
    resource_error = _check_resources(raw)
    if kind in _IAM_SID_KINDS:
        _check_sids(raw)
    for st in raw:
        if _strings(st, "Action") == () or _strings(st, "NotAction") == ():
            _fail(NO_ACTIONS)
        if "Action" not in st and "NotAction" not in st:
            _fail(NO_ACTIONS)
    for st in raw:
        _check_resource_presence(st, kind)
    for st in raw:
        _check_principal(st, kind)
    if resource_error is not None:
        _fail(resource_error)
    for st in raw:
        for key in ("Action", "NotAction"):
            for action in _strings(st, key) or ():
                _check_action(action, kind)
    lines = statement_lines(text) if text is not None else ()
    statements = tuple(_statement(i, st, lines[i] if i < len(lines) else None) for i, st in enumerate(raw))
    policy_id = doc.get("Id")
    return Policy(version, policy_id if isinstance(policy_id, str) else None, statements)


# --- syntax ------------------------------------------------------------------------------


_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)


def _syntax(doc: Mapping[str, Any], kind: PolicyKind) -> list[Mapping[str, Any]]:
    if any(key not in ("Version", "Id", "Statement") for key in doc):
        _fail(SYNTAX)
    if "Version" in doc:
        if not isinstance(doc["Version"], str):
            _fail(SYNTAX)
        if doc["Version"] not in VERSIONS:
            _fail(SYNTAX)
    if "Id" in doc and not isinstance(doc["Id"], str):
        _fail(SYNTAX)
    statements = doc.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or (not statements and kind not in _EMPTY_ALLOWED):
        _fail(SYNTAX)
    for st in statements:
        if not isinstance(st, Mapping):
            _fail(SYNTAX)
        if kind in _IDENTITY_KINDS and ("Principal" in st or "NotPrincipal" in st):
            _fail(NO_PRINCIPAL_ALLOWED)
    for st in statements:
        _statement_syntax(st)
    return statements


def _statement_syntax(st: Mapping[str, Any]) -> None:
    if any(key not in _STATEMENT_KEYS for key in st):
        _fail(SYNTAX)
    for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if a in st and b in st:
            _fail(SYNTAX)
    effect = st.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        _fail(SYNTAX)
    if "Sid" in st and not isinstance(st["Sid"], str):
        _fail(SYNTAX)
    for key in ("Action", "NotAction"):
        if key in st:
            _string_or_list(st[key])
    for key in ("Resource", "NotResource"):
        if key in st:
            _string_or_list(st[key], nulls=True)
    for key in ("Principal", "NotPrincipal"):
        if key in st:
            _principal_syntax(st[key])
    if "Condition" in st:
        _condition_syntax(st["Condition"])


def _string_or_list(value: Any, nulls: bool = False) -> None:
    """A string or a list of strings; ``nulls``: a list may also hold ``null`` (IAM skips it)."""
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(v, str) or (nulls and v is None) for v in value):
        _fail(SYNTAX)


def _principal_syntax(value: Any) -> None:
    if isinstance(value, str):
        if value != "*":
            _fail(SYNTAX)
        return
    if not isinstance(value, Mapping) or not value:
        _fail(SYNTAX)
    for key, entries in value.items():
        if key not in PRINCIPAL_TYPES:
            _fail(SYNTAX)
        _string_or_list(entries)
        if entries == []:
            _fail(SYNTAX)


def _condition_syntax(value: Any) -> None:
    if not isinstance(value, Mapping):
        _fail(SYNTAX)
    for op_name, entries in value.items():
        if not isinstance(entries, Mapping):
            _fail(SYNTAX)
        if parse_operator(op_name) is None and entries:
            _fail(SYNTAX)  # an operator IAM does not know is accepted only with an empty block
        for values in entries.values():
            items = values if isinstance(values, list) else [values]
            for item in items:
                if item is None or not isinstance(item, (str, int, float)):
                    _fail(SYNTAX)


def condition_value(value: Any) -> str:
    """Condition values are strings, numbers or booleans; they compare as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- legacy parsing --------------------------------------------------------------------------


def _legacy(st: Mapping[str, Any]) -> None:
    if st["Effect"] not in ("Allow", "Deny"):
        _fail(LEGACY)
    for op_name, entries in (st.get("Condition") or {}).items():
        op = parse_operator(op_name)
        if op is not None and op.base.family is Family.DATE:
            for values in entries.values():
                for item in values if isinstance(values, list) else [values]:
                    if isinstance(item, bool) or parse_date(condition_value(item)) is None:
                        _fail(LEGACY)


def _legacy_resource(resource: str) -> bool:
    """Whether IAM's legacy parser reads a resource: an ARN of fewer than six parts may not have
    an empty part, and the service part may not be empty."""
    if resource == "*":
        return True
    if resource.count(":") < 5 and "::" in resource:
        return False
    parts = resource.split(":")
    return len(parts) > 2 and parts[2] != ""


def _check_resources(statements: list[Mapping[str, Any]]) -> str | None:
    """IAM's message for the first malformed resource (raised after the presence checks), or None.

    Resources are read as IAM does: every Resource element, then every NotResource element.  Until
    a malformed one is found, each statement's element must also pass legacy parsing (which fails
    at once); after one is found, legacy parsing of resources stops.
    """
    error: str | None = None
    for key in ("Resource", "NotResource"):
        for st in statements:
            resources = _strings(st, key)
            if resources is None:
                continue
            for resource in resources:
                if error is None:
                    error = resource_error(resource)
            if error is None and not all(_legacy_resource(r) for r in resources):
                _fail(LEGACY)
    return error


_SID = re.compile(r"^[0-9A-Za-z]*$")


def _check_sids(statements: list[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for st in statements:
        sid = st.get("Sid")
        if sid:
            if sid in seen:
                _fail(SID_UNIQUE)
            seen.add(sid)
    for st in statements:
        sid = st.get("Sid")
        if sid and not _SID.match(sid):
            _fail(SID_ALNUM)


def _strings(st: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    """An element's strings (``null`` entries of a resource list left out); None when absent."""
    if key not in st:
        return None
    value = st[key]
    return (value,) if isinstance(value, str) else tuple(v for v in value if v is not None)


def _check_resource_presence(st: Mapping[str, Any], kind: PolicyKind) -> None:
    has = "Resource" in st or "NotResource" in st
    if kind is PolicyKind.TRUST:
        if has:
            _fail(RESOURCE_PROHIBITED)
        return
    if has and (st.get("Resource") == [] or st.get("NotResource") == []):
        _fail(NO_RESOURCES)
    if kind is not PolicyKind.RESOURCE and not has:
        _fail(NO_RESOURCES)


# --- principals --------------------------------------------------------------------------------

_ACCOUNT = re.compile(r"^\d{12}$")
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{15,127}$")
_IAM_PRINCIPAL = re.compile(r"^arn:[a-z-]+:iam::\d{12}:(root|user/.+|role/.+)$")
_STS_PRINCIPAL = re.compile(r"^arn:[a-z-]+:sts::\d{12}:(assumed-role/[^/]+/.+|federated-user/.+)$")


def _invalid_principal(kind: str, value: str) -> NoReturn:
    _fail(f'Invalid principal in policy: "{kind}":"{value}"')


def _check_principal(st: Mapping[str, Any], kind: PolicyKind) -> None:
    if kind not in _PRINCIPAL_KINDS:
        return
    if "Principal" not in st and "NotPrincipal" not in st:
        _fail(PRINCIPAL_REQUIRED)
    if kind is PolicyKind.RCP and (st.get("Principal") not in ("*", {"AWS": "*"}) or "NotAction" in st):
        _fail(SYNTAX)
    spec = st.get("Principal", st.get("NotPrincipal"))
    if isinstance(spec, str):
        return
    for ptype, entries in spec.items():
        for value in (entries,) if isinstance(entries, str) else entries:
            _check_principal_value(ptype, value)


def _check_principal_value(ptype: str, value: str) -> None:
    if value == "*":
        return
    if "*" in value or "?" in value or not value or value != value.strip():
        _invalid_principal(ptype, value)
    if ptype == "AWS":
        ok = (
            _ACCOUNT.match(value) is not None
            or _UNIQUE_ID.match(value) is not None
            or _IAM_PRINCIPAL.match(value) is not None
            or _STS_PRINCIPAL.match(value) is not None
        )
        if not ok:
            _invalid_principal(ptype, value)
    elif ptype == "Service" and "." not in value:
        _invalid_principal(ptype, value)


# --- resources and actions ---------------------------------------------------------------------


def _padded_partition_message(resource: str) -> str:
    """IAM names a resource with a bad partition in six parts, missing ones as ``*``."""
    _, _, rest = resource.partition(":")
    partition, _, rest = rest.partition(":")
    tail = rest.split(":")
    service = tail[0] if tail[0] != "" or len(tail) > 1 else "*"
    region = tail[1] if len(tail) > 1 else "*"
    account = tail[2] if len(tail) > 2 else "*"
    name = ":".join(tail[3:]) if len(tail) > 3 else "*"
    return f'Partition "{partition}" is not valid for resource "arn:{partition}:{service}:{region}:{account}:{name}".'


def resource_error(resource: str) -> str | None:
    """IAM's message for a Resource / NotResource value it refuses for its shape, or None.

    An ARN may have fewer than six parts: IAM reads the missing ones as ``*`` (its messages show
    them so), so ``arn:aws:sqs`` is every SQS resource.  The first part is not checked; the
    partition must be a real one (or ``*``); the service must be named without wildcards; IAM
    resources carry no Region and a known resource type; S3 bucket and object ARNs carry no Region
    (access points, Batch Operations jobs, Storage Lens and Access Grants resources do).
    """
    if resource == "*":
        return None
    if ":" not in resource:
        return f'Resource {resource} must be in ARN format or "*".'
    parts = resource.split(":")
    partition = parts[1]
    if partition not in PARTITIONS and partition != "*":
        return _padded_partition_message(resource)
    if len(parts) < 3:
        return VENDOR_REGEX
    service = parts[2]
    if "*" in service or "?" in service:
        return VENDOR_REGEX
    region = parts[3] if len(parts) > 3 else ""
    name = ":".join(parts[5:]) if len(parts) > 5 else None
    if service == "iam" and region:
        return f"IAM resource {resource} cannot contain region information."
    if service == "s3" and region and not (name or "").startswith(REGIONAL_S3_RESOURCES):
        return f"Resource {resource} can not contain region information."
    if (
        service == "iam"
        and name is not None
        and name not in ("*", "root")
        and not name.startswith(IAM_RESOURCE_PREFIXES)
    ):
        return IAM_PATH.format(prefixes=", ".join(IAM_RESOURCE_PREFIXES))
    return None


def padded_resource(resource: str) -> str:
    """A resource ARN as IAM matches it: missing trailing parts read as ``*``."""
    if resource == "*" or not resource.startswith("arn:"):
        return resource
    missing = 5 - resource.count(":")
    return resource + ":*" * missing if missing > 0 else resource


_VENDOR = re.compile(r"^[a-zA-Z0-9\-.]+$")


def _check_action(action: str, kind: PolicyKind) -> None:
    if action == "*":
        return
    parts = action.split(":")
    if len(parts) == 1:
        _fail(NO_VENDOR)
    if len(parts) > 2:
        _fail(ONE_COLON)
    if not _VENDOR.match(parts[0]):
        _fail(f"Vendor {parts[0]} is not valid")
    if kind is PolicyKind.TRUST and parts[0].lower() != "sts":
        _fail(TRUST_ACTIONS)


# --- building the model ------------------------------------------------------------------------


def _principal_spec(value: Any) -> PrincipalSpec:
    if isinstance(value, str):
        return PrincipalSpec(everyone=True)
    lists: dict[str, tuple[str, ...]] = {}
    for ptype in PRINCIPAL_TYPES:
        entries = value.get(ptype)
        lists[ptype] = () if entries is None else ((entries,) if isinstance(entries, str) else tuple(entries))
    everyone = "*" in lists["AWS"]
    return PrincipalSpec(
        everyone=everyone,
        aws=lists["AWS"],
        service=lists["Service"],
        federated=lists["Federated"],
        canonical_user=lists["CanonicalUser"],
    )


def _statement(index: int, st: Mapping[str, Any], line: int | None) -> Statement:
    conditions: list[ConditionEntry] = []
    for op_name, entries in (st.get("Condition") or {}).items():
        op = parse_operator(op_name)
        if op is None:
            continue  # an unknown operator with an empty block (the grammar refuses any other)
        for key, values in entries.items():
            items = values if isinstance(values, list) else [values]
            conditions.append(ConditionEntry(op, key, tuple(condition_value(v) for v in items)))
    sid = st.get("Sid")
    return Statement(
        index=index,
        sid=sid if sid else None,
        allow=st["Effect"] == "Allow",
        principal=_principal_spec(st["Principal"]) if "Principal" in st else None,
        not_principal=_principal_spec(st["NotPrincipal"]) if "NotPrincipal" in st else None,
        actions=_strings(st, "Action"),
        not_actions=_strings(st, "NotAction"),
        resources=_strings(st, "Resource"),
        not_resources=_strings(st, "NotResource"),
        conditions=tuple(conditions),
        line=line,
    )


# --- source positions -----------------------------------------------------------------------


def statement_lines(text: str) -> tuple[int, ...]:
    """1-based line of each statement object of a (valid) policy text, in order."""
    offsets: list[int] = []
    stack: list[str] = []
    key: str | None = None
    array_depth = -1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if len(stack) == 1:
                k = j + 1
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == ":":
                    key = text[i + 1 : j]
            i = j + 1
            continue
        if ch in "{[":
            if len(stack) == 1 and key == "Statement":
                if ch == "{":
                    offsets.append(i)
                else:
                    array_depth = len(stack) + 1
            elif ch == "{" and len(stack) == array_depth and stack[-1] == "[":
                offsets.append(i)
            stack.append(ch)
        elif ch in "}]":
            if stack:
                stack.pop()
            if len(stack) < array_depth:
                array_depth = -1
        elif ch == "," and len(stack) == 1:
            key = None
        i += 1
    return tuple(text.count("\n", 0, off) + 1 for off in offsets)
