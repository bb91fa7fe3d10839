"""Policy documents on write: size limits, then the full grammar (``iamd.policy.grammar``).

The IAM API handlers call ``check_document(text, kind, entity_name)``; it raises AWS's
``LimitExceeded`` for an oversized document and ``MalformedPolicyDocument`` (with IAM's message)
for one that breaks the grammar, and returns the parsed JSON object.
"""

from __future__ import annotations

from typing import Any

from iamd.core.errors import LimitExceeded
from iamd.policy.grammar import VERSIONS, PolicyKind, load_json, parse_policy

__all__ = ["SIZE_LIMITS", "VERSIONS", "PolicyKind", "check_document", "normalize", "policy_size"]

SIZE_LIMITS = {
    PolicyKind.MANAGED: 6144,
    PolicyKind.USER_INLINE: 2048,
    PolicyKind.GROUP_INLINE: 5120,
    PolicyKind.ROLE_INLINE: 10240,
    PolicyKind.TRUST: 2048,
    PolicyKind.SESSION: 2048,
}
"""Non-whitespace characters, per kind (IAM quotas)."""

ORGANIZATION_POLICY_LIMIT = 5120
"""SCPs and RCPs: every character counts, whitespace included."""


def policy_size(text: str) -> int:
    """Characters not counting whitespace, as AWS counts policy size."""
    return sum(1 for ch in text if not ch.isspace())


def _size_error(kind: PolicyKind, limit: int, entity: str) -> LimitExceeded:
    if kind is PolicyKind.MANAGED:
        return LimitExceeded(f"Cannot exceed quota for PolicySize: {limit}")
    if kind is PolicyKind.TRUST:
        return LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {limit}")
    if kind in (PolicyKind.SCP, PolicyKind.RCP):
        return LimitExceeded(f"Policy size exceeds the maximum of {limit} characters")
    return LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind.value} {entity}")


def check_document(text: str, kind: PolicyKind, entity: str = "") -> dict[str, Any]:
    """Check a policy document for ``kind``; return it parsed, or raise AWS's error."""
    limit = SIZE_LIMITS.get(kind)
    if limit is not None and policy_size(text) > limit:
        raise _size_error(kind, limit, entity)
    if kind in (PolicyKind.SCP, PolicyKind.RCP) and len(text) > ORGANIZATION_POLICY_LIMIT:
        raise _size_error(kind, ORGANIZATION_POLICY_LIMIT, entity)
    parse_policy(text, kind)
    doc: dict[str, Any] = load_json(text)
    return doc


def normalize(text: str) -> str:
    """Documents are stored exactly as given (AWS returns what was sent)."""
    return text
