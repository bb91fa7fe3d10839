"""In-process policy evaluation speed: decisions per second and latency percentiles.

    python bench/bench_policy.py [--seconds 2]

Three scenarios, each a prepared ``EvaluationRequest`` (policies compiled once, as the server's
cache keeps them) evaluated in a loop:

* ``user-10``: an IAM user with one identity policy of 10 statements, all with conditions (tags,
  source IP, secure transport, time, prefixes, tag keys) and all matching the action: six are
  rejected by their resource, three by their conditions, and the last one allows;
* ``user-1000``: 1,000 statements over 50 services (20 per service, each with a condition); the
  request's service index narrows the work to that service's statements;
* ``cross-account``: a role session calling into another account, with identity policies, a
  resource-based policy, a permissions boundary and a session policy.

A fourth line, ``user-10+build``, includes building the request and its principal descriptor
for each decision, as a server does per call.
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

from iamd.policy import EvaluationRequest, compile_policy, describe_principal, evaluate  # noqa: E402
from iamd.policy.grammar import PolicyKind  # noqa: E402

ACCOUNT = "111122223333"
OTHER = "444455556666"
NOW = 1_714_521_600.0
CONTEXT = {
    "aws:SourceIp": "10.1.2.3",
    "aws:SecureTransport": "true",
    "s3:prefix": "home/alice/docs",
    "aws:RequestedRegion": "us-east-1",
    "aws:TagKeys": ["team", "cost"],
}


def _conditioned(i: int, service: str, action: str, resource: str) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = [
        {"StringEquals": {"aws:PrincipalTag/team": ["blue", f"team{i}"]}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "shared/*"]}},
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost", "owner"]}},
    ]
    condition: dict[str, Any] = {}
    for part in conditions[: 2 + i % 5]:
        condition.update(part)
    return {
        "Sid": f"S{i}",
        "Effect": "Allow",
        "Action": [f"{service}:{action}*", f"{service}:Describe{i}"],
        "Resource": resource,
        "Condition": condition,
    }


def user_10() -> EvaluationRequest:
    statements = []
    for i in range(9):
        st = _conditioned(i, "s3", "Get", f"arn:aws:s3:::bucket-{i}/home/${{aws:username}}/*")
        if i % 3 == 0:  # reaches the conditions, which fail
            st["Resource"] = "*"
            st["Condition"] = {**st["Condition"], "StringEquals": {"aws:PrincipalTag/team": "red"}}
        statements.append(st)
    statements.append(_conditioned(9, "s3", "Get", "arn:aws:s3:::bucket/home/${aws:username}/*"))
    policy = compile_policy({"Version": "2012-10-17", "Statement": statements}, policy_id="user-10")
    return EvaluationRequest(
        principal=describe_principal(f"arn:aws:iam::{ACCOUNT}:user/alice", tags={"team": "blue"}),
        action="s3:GetObject",
        resource="arn:aws:s3:::bucket/home/alice/docs/report.pdf",
        context=CONTEXT,
        identity_policies=[policy],
        now=NOW,
    )


def user_1000() -> EvaluationRequest:
    services = [f"svc{n:02d}" for n in range(49)] + ["s3"]
    statements = []
    for n, service in enumerate(services):
        for k in range(20):
            i = n * 20 + k
            action = "Get" if (service == "s3" and k == 19) else f"Op{k}"
            resource = "arn:aws:s3:::bucket/home/${aws:username}/*" if service == "s3" else f"arn:aws:{service}:*:*:r/*"
            statements.append(_conditioned(i, service, action, resource))
    policies = [
        compile_policy({"Version": "2012-10-17", "Statement": statements[j : j + 100]}, policy_id=f"p{j // 100}")
        for j in range(0, 1000, 100)
    ]
    return EvaluationRequest(
        principal=describe_principal(f"arn:aws:iam::{ACCOUNT}:user/alice", tags={"team": "blue"}),
        action="s3:GetObject",
        resource="arn:aws:s3:::bucket/home/alice/docs/report.pdf",
        context=CONTEXT,
        identity_policies=policies,
        now=NOW,
    )


def cross_account() -> EvaluationRequest:
    identity = compile_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"},
                {
                    "Sid": "NoDelete",
                    "Effect": "Deny",
                    "Action": "s3:Delete*",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:PrincipalTag/role": "admin"}},
                },
            ],
        },
        policy_id="role-policy",
    )
    boundary = compile_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sqs:*"], "Resource": "*"}],
        },
        policy_id="boundary",
    )
    session = compile_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::shared-{OTHER}/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                }
            ],
        },
        policy_id="session",
    )
    bucket = compile_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CrossAccountRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::shared-{OTHER}/*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
                },
                {
                    "Sid": "TLSOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": f"arn:aws:s3:::shared-{OTHER}/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        policy_id="bucket-policy",
        kind=PolicyKind.RESOURCE,
    )
    return EvaluationRequest(
        principal=describe_principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/job-7", tags={"role": "reader"}),
        action="s3:GetObject",
        resource=f"arn:aws:s3:::shared-{OTHER}/data/part-0001.parquet",
        context={**CONTEXT, "aws:PrincipalOrgID": "o-abc123"},
        identity_policies=[identity],
        resource_policy=bucket,
        permissions_boundaries=[boundary],
        session_policies=[session],
        resource_account=OTHER,
        now=NOW,
    )


def user_10_with_build() -> Callable[[], object]:
    prepared = user_10()
    policies = prepared.identity_policies

    def once() -> object:
        principal = describe_principal(f"arn:aws:iam::{ACCOUNT}:user/alice", tags={"team": "blue"})
        request = EvaluationRequest(
            principal=principal,
            action="s3:GetObject",
            resource="arn:aws:s3:::bucket/home/alice/docs/report.pdf",
            context=CONTEXT,
            identity_policies=policies,
            now=NOW,
        )
        return evaluate(request)

    return once


def measure(name: str, call: Callable[[], object], seconds: float) -> dict[str, float]:
    for _ in range(2000):  # warm caches
        call()
    samples: list[int] = []
    clock = time.perf_counter_ns
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            start = clock()
            call()
            samples.append(clock() - start)
    samples.sort()
    total_s = sum(samples) / 1e9

    def pct(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] / 1000

    row = {
        "decisions": len(samples),
        "per_second": len(samples) / total_s,
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "mean_us": statistics.fmean(samples) / 1000,
    }
    print(
        f"{name:<16} {row['per_second']:>10,.0f}/s   p50 {row['p50_us']:7.2f} µs   "
        f"p90 {row['p90_us']:7.2f} µs   p99 {row['p99_us']:7.2f} µs"
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per scenario")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    args = parser.parse_args()
    scenarios: dict[str, EvaluationRequest] = {
        "user-10": user_10(),
        "user-1000": user_1000(),
        "cross-account": cross_account(),
    }
    for name, request in scenarios.items():
        decision = evaluate(request)
        if not decision.allowed:
            raise SystemExit(f"{name}: expected Allow, got {decision.effect.value}: {decision.explanation}")
    results = {}
    for name, request in scenarios.items():
        results[name] = measure(name, lambda r=request: evaluate(r), args.seconds)  # type: ignore[misc]
    results["user-10+build"] = measure("user-10+build", user_10_with_build(), args.seconds)
    ratio = results["user-1000"]["p50_us"] / results["user-10"]["p50_us"]
    print(f"user-1000 / user-10 median ratio: {ratio:.2f}x")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
