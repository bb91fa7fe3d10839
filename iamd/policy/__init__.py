"""The policy language: grammar, compiled matchers, conditions, and AWS's decision logic.

Pure: documents and a request in, a ``Decision`` out; no I/O, no state beyond a bounded cache of
compiled policies.  Imports only ``iamd.core`` and the standard library.  ``evaluate`` is AWS's
evaluation logic; ``authorize`` adds the rules of individual services (``service_rules``: the
never-denied ``sts:GetCallerIdentity``, role trust policies and KMS key policies that must allow).

    from iamd.policy import EvaluationRequest, compile_policy, describe_principal, evaluate
    decision = evaluate(EvaluationRequest(
        principal=describe_principal("arn:aws:iam::123456789012:user/bob", tags={"team": "a"}),
        action="iam:GetUser",
        resource="arn:aws:iam::123456789012:user/bob",
        identity_policies=[compile_policy(text, policy_id="arn:aws:iam::123456789012:policy/P")],
    ))
"""

from iamd.policy.compile import CompiledPolicy, compile_policy
from iamd.policy.context import describe_principal, from_core_principal, principal_context
from iamd.policy.evaluate import evaluate
from iamd.policy.grammar import PolicyKind, parse_policy
from iamd.policy.model import (
    Decision,
    Effect,
    EvaluationRequest,
    MatchedStatement,
    PolicyType,
    PrincipalDescriptor,
    PrincipalType,
    access_denied_message,
)
from iamd.policy.service_rules import authorize

__all__ = [
    "CompiledPolicy",
    "Decision",
    "Effect",
    "EvaluationRequest",
    "MatchedStatement",
    "PolicyKind",
    "PolicyType",
    "PrincipalDescriptor",
    "PrincipalType",
    "access_denied_message",
    "authorize",
    "compile_policy",
    "describe_principal",
    "evaluate",
    "from_core_principal",
    "parse_policy",
    "principal_context",
]
