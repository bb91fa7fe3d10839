"""Rules some AWS services add to the evaluation logic, shared by the server and the offline tools.

- ``sts:GetCallerIdentity`` needs no permission: AWS answers it even when a policy explicitly
  denies it (STS API reference, GetCallerIdentity).
- A role's trust policy must allow ``sts:AssumeRole``, ``sts:AssumeRoleWithWebIdentity``,
  ``sts:AssumeRoleWithSAML`` (and ``sts:TagSession`` / ``sts:SetSourceIdentity`` when a session
  sets them), in the role's own account too: an identity-based policy alone is not enough
  ("Policy evaluation logic": role trust policies are an exception to same-account logic).
- A KMS key's key policy must allow every ``kms:`` action on the key; an identity-based policy
  counts only when the key policy delegates to the account (KMS developer guide, "Key policies").

``authorize(request)`` is ``evaluate`` with these rules applied; the engine itself stays the
plain evaluation logic (the policy simulator, like AWS's, does not apply them).
"""

from __future__ import annotations

import re
from dataclasses import replace

from iamd.policy.evaluate import evaluate
from iamd.policy.model import Decision, Effect, EvaluationRequest

NEVER_DENIED = frozenset({"sts:getcalleridentity"})
"""Actions AWS never denies (lower-case)."""

TRUST_POLICY_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithwebidentity",
        "sts:assumerolewithsaml",
        "sts:tagsession",
        "sts:setsourceidentity",
    }
)
"""Actions on a role that its trust policy must allow (lower-case)."""

_ROLE_ARN = re.compile(r"^arn:[^:]+:iam::[^:]*:role/.+")
_KMS_KEY_ARN = re.compile(r"^arn:[^:]+:kms:[^:]*:[^:]*:key/.+")


def never_denied(action: str) -> bool:
    """True for actions that need no permission at all (``sts:GetCallerIdentity``)."""
    return action.lower() in NEVER_DENIED


def is_trust_action(action: str, resource: str) -> bool:
    """True when ``action`` on ``resource`` is decided with the role's trust policy."""
    return action.lower() in TRUST_POLICY_ACTIONS and _ROLE_ARN.match(resource) is not None


def resource_policy_required(action: str, resource: str) -> bool:
    """True when the resource's own policy must allow the request (trust policies, key policies)."""
    if is_trust_action(action, resource):
        return True
    return action.lower().startswith("kms:") and _KMS_KEY_ARN.match(resource) is not None


def with_service_rules(request: EvaluationRequest) -> EvaluationRequest:
    """The request with ``resource_policy_required`` set where the service requires it."""
    if request.resource_policy_required or not resource_policy_required(request.action, request.resource):
        return request
    return replace(request, resource_policy_required=True)


def authorize(request: EvaluationRequest) -> Decision:
    """Decide a request as the service does: the evaluation logic plus the rules above."""
    if never_denied(request.action):
        return Decision(
            Effect.ALLOW,
            request.action,
            None,
            resource=request.resource,
            detail=f"without any policy: AWS never denies {request.action}",
        )
    return evaluate(with_service_rules(request))
