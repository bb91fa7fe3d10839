"""Policy documents on write: JSON shape, required elements, size limits.

This is the write-time check the IAM API applies.  The full grammar and the evaluation
engine belong to the policy module proper (issue 3), which extends these checks.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from iamd.core.errors import LimitExceeded, MalformedPolicyDocument

VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)


class PolicyKind(enum.Enum):
    MANAGED = "managed"
    USER_INLINE = "user"
    GROUP_INLINE = "group"
    ROLE_INLINE = "role"
    TRUST = "trust"
    SESSION = "session"


SIZE_LIMITS = {
    PolicyKind.MANAGED: 6144,
    PolicyKind.USER_INLINE: 2048,
    PolicyKind.GROUP_INLINE: 5120,
    PolicyKind.ROLE_INLINE: 10240,
    PolicyKind.TRUST: 2048,
    PolicyKind.SESSION: 2048,
}


def policy_size(text: str) -> int:
    """Characters not counting whitespace, as AWS counts policy size."""
    return sum(1 for ch in text if not ch.isspace())


def _size_error(kind: PolicyKind, limit: int, entity: str) -> LimitExceeded:
    if kind is PolicyKind.MANAGED:
        return LimitExceeded(f"Cannot exceed quota for PolicySize: {limit}")
    if kind is PolicyKind.TRUST:
        return LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {limit}")
    return LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind.value} {entity}")


def check_document(text: str, kind: PolicyKind, entity: str = "") -> dict[str, Any]:
    """Parse and check a policy document; return it as a dict or raise AWS's error."""
    limit = SIZE_LIMITS[kind]
    if policy_size(text) > limit:
        raise _size_error(kind, limit, entity)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MalformedPolicyDocument("Syntax errors in policy.") from exc
    if not isinstance(doc, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise MalformedPolicyDocument(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}")
    version = doc.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicyDocument("The policy must contain a valid version string")
    statements = doc.get("Statement")
    if statements is None:
        raise MalformedPolicyDocument("Missing required field Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    for statement in statements:
        _check_statement(statement, kind)
    return doc


def _check_statement(st: Any, kind: PolicyKind) -> None:
    if not isinstance(st, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    unknown = set(st) - _STATEMENT_KEYS
    if unknown:
        raise MalformedPolicyDocument(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}")
    if st.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicyDocument("Missing required field Effect" if "Effect" not in st else "Invalid effect")
    if "Action" in st and "NotAction" in st:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    if "Resource" in st and "NotResource" in st:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    if "Action" not in st and "NotAction" not in st:
        raise MalformedPolicyDocument("Policy statement must contain actions.")
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in st:
            _check_strings(st[key])
    has_principal = "Principal" in st or "NotPrincipal" in st
    if kind is PolicyKind.TRUST:
        if not has_principal:
            raise MalformedPolicyDocument("Missing required field Principal")
        if "Resource" in st or "NotResource" in st:
            raise MalformedPolicyDocument("Has prohibited field Resource")
    else:
        if has_principal:
            raise MalformedPolicyDocument("Policy document should not specify a principal.")
        if "Resource" not in st and "NotResource" not in st:
            raise MalformedPolicyDocument("Policy statement must contain resources.")
    if "Condition" in st and not isinstance(st["Condition"], dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")


def _check_strings(value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise MalformedPolicyDocument("Syntax errors in policy.")


def normalize(text: str) -> str:
    """Documents are stored exactly as given (AWS returns what was sent)."""
    return text
