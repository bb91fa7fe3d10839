"""Policy decisions under an organization: three SCP levels and two RCP levels vs. none.

    python bench/bench_orgs.py [--seconds 2] [--json]

The request: a role session of a member account reads an object of a bucket in its own account
(``s3:GetObject``), allowed by the role's policies (a 10-statement identity policy with conditions
and a permissions boundary).  With the organization, the request also carries what
``iamd.orgs.levels`` feeds the engine:

* SCPs, three levels: the root (``FullAWSAccess`` and a region guardrail denying everything but
  global services outside two regions), an OU (``FullAWSAccess`` and a security baseline:
  no leaving the organization, no touching CloudTrail, GuardDuty, Config or the access role, except
  for an admin role), the account (``FullAWSAccess`` and a deny of unencrypted uploads and bucket
  policy changes);
* RCPs, two levels: the root (``RCPFullAWSAccess`` and a data perimeter denying S3, STS, KMS, SQS
  and Secrets Manager to principals outside the organization, with the service-principal
  exception) and the account (``RCPFullAWSAccess`` and a deny of requests without TLS);
* the organization condition keys (``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``,
  ``aws:ResourceOrgID``...).

Two comparisons, each timed in alternating batches of CPU time: the engine alone (the request
prepared once, the levels as the per-generation cache keeps them), and the decision as the server's
authorizer makes it per request (principal descriptor, the cached compiled policies looked up by
text, the request built with what ``organization_inputs`` gives for a cached standing,
``authorize``).  Printed: median and best microseconds per decision, and the ratio (the aim: within
1.5x).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_policy import CONTEXT, NOW, _conditioned  # noqa: E402
from iamd.orgs.levels import NO_ORGANIZATION, OrgInputs, OrgStanding, organization_inputs  # noqa: E402
from iamd.orgs.policy_types import AWS_MANAGED  # noqa: E402
from iamd.policy import EvaluationRequest, authorize, compile_policy, describe_principal, evaluate  # noqa: E402
from iamd.policy.compile import CompiledPolicy  # noqa: E402
from iamd.policy.grammar import PolicyKind  # noqa: E402

ORG = "o-a1b2c3d4e5"
ROOT_ID = "r-ab12"
OU = "ou-ab12-11111111"
MGMT = "111111111111"
ACCOUNT = "222233334444"
PATH = f"{ORG}/{ROOT_ID}/{OU}/"
GLOBAL_SERVICES = ["iam:*", "organizations:*", "sts:*", "support:*", "cloudfront:*", "route53:*", "budgets:*"]


def _scp(policy_id: str, *statements: dict[str, Any]) -> CompiledPolicy:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return compile_policy(json.dumps(document), policy_id=policy_id, kind=PolicyKind.SCP)


def _rcp(policy_id: str, *statements: dict[str, Any]) -> CompiledPolicy:
    document = {"Version": "2012-10-17", "Statement": [{**s, "Principal": "*"} for s in statements]}
    return compile_policy(json.dumps(document), policy_id=policy_id, kind=PolicyKind.RCP)


def _managed(policy_id: str, kind: PolicyKind) -> CompiledPolicy:
    return compile_policy(AWS_MANAGED[policy_id].content, policy_id=policy_id, kind=kind)


ADMIN_ROLE = "arn:aws:iam::*:role/OrganizationAccountAccessRole"


def scp_levels() -> tuple[tuple[CompiledPolicy, ...], ...]:
    full = _managed("p-FullAWSAccess", PolicyKind.SCP)
    regions = _scp(
        "p-regionguard",
        {
            "Sid": "DenyOutsideRegions",
            "Effect": "Deny",
            "NotAction": GLOBAL_SERVICES,
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]},
                "ArnNotLike": {"aws:PrincipalArn": ADMIN_ROLE},
            },
        },
    )
    baseline = _scp(
        "p-baseline01",
        {"Sid": "NoLeaving", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
        {
            "Sid": "ProtectAuditing",
            "Effect": "Deny",
            "Action": [
                "cloudtrail:StopLogging",
                "cloudtrail:DeleteTrail",
                "cloudtrail:UpdateTrail",
                "guardduty:DeleteDetector",
                "guardduty:DisassociateFromMasterAccount",
                "config:DeleteConfigurationRecorder",
                "config:StopConfigurationRecorder",
            ],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": ADMIN_ROLE}},
        },
        {
            "Sid": "ProtectAccessRole",
            "Effect": "Deny",
            "Action": ["iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy"],
            "Resource": "arn:aws:iam::*:role/OrganizationAccountAccessRole",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": ADMIN_ROLE}},
        },
        {
            "Sid": "NoRootUser",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}},
        },
    )
    account = _scp(
        "p-datarules1",
        {
            "Sid": "EncryptedUploads",
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Resource": "*",
            "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
        },
        {
            "Sid": "NoBucketPolicyChanges",
            "Effect": "Deny",
            "Action": ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketPublicAccessBlock"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "platform"}},
        },
    )
    return (full, regions), (full, baseline), (full, account)


def rcp_levels() -> tuple[tuple[CompiledPolicy, ...], ...]:
    full = _managed("p-RCPFullAWSAccess", PolicyKind.RCP)
    perimeter = _rcp(
        "p-perimeter1",
        {
            "Sid": "EnforceOrgIdentities",
            "Effect": "Deny",
            "Action": [
                "s3:*",
                "sqs:*",
                "kms:*",
                "secretsmanager:*",
                "sts:AssumeRole",
                "sts:DecodeAuthorizationMessage",
            ],
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG, "aws:ResourceTag/dp:exclude:identity": "true"},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
            },
        },
        {
            "Sid": "EnforceConfusedDeputyProtection",
            "Effect": "Deny",
            "Action": ["s3:*", "sqs:*", "kms:*", "secretsmanager:*", "sts:*"],
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:SourceOrgID": ORG},
                "Null": {"aws:SourceAccount": "false"},
                "Bool": {"aws:PrincipalIsAWSService": "true"},
            },
        },
    )
    tls = _rcp(
        "p-tlsonly001",
        {
            "Sid": "EnforceSecureTransport",
            "Effect": "Deny",
            "Action": ["s3:*", "sqs:*", "kms:*", "secretsmanager:*", "sts:*"],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}},
        },
    )
    return (full, perimeter), (full, tls)


def identity_texts() -> tuple[str, str]:
    """The role's inline policy and its permissions boundary, as stored text."""
    statements = [_conditioned(i, "s3", "Get", f"arn:aws:s3:::bucket-{i}/*") for i in range(9)]
    statements.append(
        {
            "Sid": "ReadData",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::data-bucket", "arn:aws:s3:::data-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        }
    )
    boundary = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sqs:*"], "Resource": "*"}],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": statements}), json.dumps(boundary)


IDENTITY_TEXT, BOUNDARY_TEXT = identity_texts()


def build_request(org: OrgInputs = NO_ORGANIZATION) -> EvaluationRequest:
    """The request as the authorizer builds it for every call (compiling is a cache lookup), with
    what the organization adds passed at construction."""
    return EvaluationRequest(
        principal=describe_principal(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/job-7",
            tags={"team": "data"},
            in_management_account=org.in_management_account,
        ),
        action="s3:GetObject",
        resource="arn:aws:s3:::data-bucket/part-0001.parquet",
        context={**CONTEXT, **org.context},
        identity_policies=[compile_policy(IDENTITY_TEXT, policy_id="role/reader/inline/read")],
        permissions_boundaries=[compile_policy(BOUNDARY_TEXT, policy_id="boundary")],
        service_control_policies=org.service_control_policies,
        resource_control_policies=org.resource_control_policies,
        resource_account=ACCOUNT,
        resource_in_management_account=org.resource_in_management_account,
        now=NOW,
    )


def compare(
    name: str, without: Callable[[], object], with_org: Callable[[], object], seconds: float, batch: int = 100
) -> dict[str, float]:
    """Time both in alternating batches of CPU time (``process_time``, so that other processes on a
    shared machine weigh less) and print the medians, the best batches and the ratios."""
    for _ in range(1000):  # warm caches
        without()
        with_org()
    plain_us: list[float] = []
    org_us: list[float] = []
    deadline = time.perf_counter() + 2 * seconds
    while time.perf_counter() < deadline:
        for call, samples in ((without, plain_us), (with_org, org_us)):
            start = time.process_time_ns()
            for _ in range(batch):
                call()
            samples.append((time.process_time_ns() - start) / batch / 1000)
    ratios = sorted(org / plain for plain, org in zip(plain_us, org_us, strict=True))
    row = {
        "no_org_median_us": statistics.median(plain_us),
        "org_median_us": statistics.median(org_us),
        "no_org_best_us": min(plain_us),
        "org_best_us": min(org_us),
        "median_ratio": statistics.median(ratios),
        "best_ratio": min(org_us) / min(plain_us),
    }
    print(
        f"{name:<7} without organizations {row['no_org_median_us']:6.1f} µs (best {row['no_org_best_us']:5.1f})   "
        f"with {row['org_median_us']:6.1f} µs (best {row['org_best_us']:5.1f})   "
        f"ratio {row['median_ratio']:.2f}x (best/best {row['best_ratio']:.2f}x; aim: within 1.5x)"
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per scenario")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    args = parser.parse_args()
    plain = build_request()
    standing = OrgStanding(ACCOUNT, ORG, MGMT, PATH, scp_levels(), rcp_levels())
    organized = build_request(organization_inputs(standing, standing))
    assert len(organized.service_control_policies) == 3 and len(organized.resource_control_policies) == 2
    for name, request in (("without organizations", plain), ("with organizations", organized)):
        decision = evaluate(request)
        if not decision.allowed:
            raise SystemExit(f"{name}: expected Allow, got {decision.effect.value}: {decision.explanation}")
    supporting = {s.policy_id for s in evaluate(organized).supporting}
    assert {"p-FullAWSAccess", "p-RCPFullAWSAccess"} <= supporting

    standings = {ACCOUNT: standing}  # the per-generation cache, warm

    def server_plain() -> object:
        return authorize(build_request())

    def server_organized() -> object:
        member = standings.get(ACCOUNT)
        return authorize(build_request(organization_inputs(member, member)))

    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "engine": (lambda: evaluate(plain), lambda: evaluate(organized)),
        "server": (server_plain, server_organized),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (without, with_org) in pairs.items():
        results[name] = compare(name, without, with_org, args.seconds)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
