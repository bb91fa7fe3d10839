"""Organization policy types iamd knows, their limits, and AWS's managed policies.

Service control policies and resource control policies are enforced: every decision iamd makes
evaluates them (``iamd.orgs.levels``).  Tag, backup, AI services opt-out and chat applications
policies are management policies AWS applies in other services: iamd stores, attaches and lists
them (their content must be a JSON object) but nothing reads them.  The other types of the model
(declarative, Security Hub, Inspector, ...) are refused with ``PolicyTypeNotAvailableForOrganization``.

Sizes and attachment counts: "Quotas and service limits for AWS Organizations" (maximum size of a
policy document; "Number of policies that you can attach to an entity": every root, OU and account
must keep at least one SCP while SCPs are enabled, at most five; RCPs likewise, the
``RCPFullAWSAccess`` policy cannot be detached).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from iamd.policy.grammar import PolicyKind

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"
TAG_POLICY = "TAG_POLICY"
BACKUP_POLICY = "BACKUP_POLICY"
AISERVICES_OPT_OUT_POLICY = "AISERVICES_OPT_OUT_POLICY"
CHATBOT_POLICY = "CHATBOT_POLICY"

FULL_AWS_ACCESS = "p-FullAWSAccess"
RCP_FULL_AWS_ACCESS = "p-RCPFullAWSAccess"


@dataclass(frozen=True, slots=True)
class PolicyTypeSpec:
    name: str
    max_size: int
    """Characters, whitespace included (the API stores content exactly as sent)."""
    max_attached: int
    """Policies of this type attached directly to one root, OU or account."""
    min_attached: int
    """While the type is enabled, every root, OU and account keeps at least this many."""
    kind: PolicyKind | None
    """The grammar its documents follow when iamd enforces it; None: stored, not enforced."""
    default_policy: str | None = None
    """The AWS managed policy attached everywhere when the type is enabled."""


SPECS: dict[str, PolicyTypeSpec] = {
    spec.name: spec
    for spec in (
        PolicyTypeSpec(SCP, 5120, 5, 1, PolicyKind.SCP, FULL_AWS_ACCESS),
        PolicyTypeSpec(RCP, 5120, 5, 1, PolicyKind.RCP, RCP_FULL_AWS_ACCESS),
        PolicyTypeSpec(TAG_POLICY, 10_000, 10, 0, None),
        PolicyTypeSpec(BACKUP_POLICY, 10_000, 10, 0, None),
        PolicyTypeSpec(AISERVICES_OPT_OUT_POLICY, 2500, 5, 0, None),
        PolicyTypeSpec(CHATBOT_POLICY, 10_000, 5, 0, None),
    )
}
ENFORCED = frozenset(name for name, spec in SPECS.items() if spec.kind is not None)


@dataclass(frozen=True, slots=True)
class AwsManagedPolicy:
    id: str
    type: str
    name: str
    description: str
    content: str
    detachable: bool


def _document(statement: dict[str, str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)


AWS_MANAGED: dict[str, AwsManagedPolicy] = {
    policy.id: policy
    for policy in (
        AwsManagedPolicy(
            FULL_AWS_ACCESS,
            SCP,
            "FullAWSAccess",
            "Allows access to every operation",
            _document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
            detachable=True,
        ),
        AwsManagedPolicy(
            RCP_FULL_AWS_ACCESS,
            RCP,
            "RCPFullAWSAccess",
            "Allows access to every operation",
            _document({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
            detachable=False,
        ),
    )
}
"""By id.  Their content is fixed, so they live here rather than in the store."""


def spec_of(policy_type: str) -> PolicyTypeSpec | None:
    return SPECS.get(policy_type)
