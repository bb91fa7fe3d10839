"""Policy content rules per type, and CreateAccount's email rules (pure)."""

from __future__ import annotations

import json

import pytest

from iamd.core.errors import ConstraintViolationException, MalformedPolicyDocumentException
from iamd.orgs.create_account import valid_email
from iamd.orgs.policies import check_content
from iamd.orgs.policy_types import AWS_MANAGED, SPECS


def test_aws_managed_policies_pass_their_own_type_s_rules_but_rcps_allow_only_there() -> None:
    for managed in AWS_MANAGED.values():
        if managed.type == "RESOURCE_CONTROL_POLICY":
            with pytest.raises(MalformedPolicyDocumentException, match="RCPFullAWSAccess"):
                check_content(SPECS[managed.type], managed.content)  # a customer cannot create it
        else:
            check_content(SPECS[managed.type], managed.content)


@pytest.mark.parametrize(
    ("policy_type", "limit"),
    [("SERVICE_CONTROL_POLICY", 5120), ("AISERVICES_OPT_OUT_POLICY", 2500), ("TAG_POLICY", 10_000)],
)
def test_size_limits(policy_type: str, limit: int) -> None:
    spec = SPECS[policy_type]
    base = '{"Version":"2012-10-17","Statement":[]}' if spec.kind is not None else "{}"
    check_content(spec, base[:-1] + " " * (limit - len(base)) + "}")
    with pytest.raises(ConstraintViolationException) as big:
        check_content(spec, base[:-1] + " " * (limit - len(base) + 1) + "}")
    assert big.value.reason == "POLICY_CONTENT_LIMIT_EXCEEDED"


def test_scps_use_the_full_grammar() -> None:
    spec = SPECS["SERVICE_CONTROL_POLICY"]
    check_content(
        spec,
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "NotAction": ["iam:*", "sts:*"],
                        "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}},
                    }
                ],
            }
        ),
    )
    with pytest.raises(MalformedPolicyDocumentException, match="Syntax errors in policy"):
        check_content(spec, '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}')


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("dev@example.com", True),
        ("first.last+tag@sub.example.org", True),
        ("a@b.co", True),
        ("a@b.c", False),  # shorter than 6
        ("no-at-sign.example.com", False),
        ("two@@example.com", False),
        (".dot@example.com", False),
        ("pa(ren)@example.com", False),
        ("sp ace@example.com", False),
        ("user@-example.com", False),
        ("user@example.com.", False),
        ("user@localhost", False),
        ("üser@example.com", False),
        ("x" * 60 + "@example.com", False),
    ],
)
def test_create_account_email_rules(email: str, ok: bool) -> None:
    assert valid_email(email) is ok
