from __future__ import annotations

import json

import pytest

from iamd.core.errors import LimitExceeded, MalformedPolicyDocument
from iamd.policy.document import PolicyKind, check_document, policy_size

ALLOW = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
}


def test_valid_documents() -> None:
    assert check_document(json.dumps(ALLOW), PolicyKind.MANAGED)["Version"] == "2012-10-17"
    check_document(json.dumps(TRUST), PolicyKind.TRUST)


@pytest.mark.parametrize(
    "doc",
    [
        "not json",
        "[]",
        json.dumps({"Version": "2012-10-17"}),
        json.dumps({"Version": "2013-01-01", "Statement": ALLOW["Statement"]}),
        json.dumps({"Statement": [{"Action": "s3:*", "Resource": "*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "a:b"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "a:b", "NotAction": "c:d", "Resource": "*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Bogus": 1}]}),
        json.dumps({"Statement": [{"Effect": "Maybe", "Action": "a:b", "Resource": "*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "a:b", "Resource": "*", "Principal": "*"}]}),
    ],
)
def test_malformed_identity_documents(doc: str) -> None:
    with pytest.raises(MalformedPolicyDocument):
        check_document(doc, PolicyKind.MANAGED)


def test_trust_policy_needs_principal() -> None:
    with pytest.raises(MalformedPolicyDocument):
        check_document(json.dumps(ALLOW), PolicyKind.TRUST)


def test_size_limits_ignore_whitespace() -> None:
    padded = json.dumps(ALLOW, indent=50)
    assert policy_size(padded) == policy_size(json.dumps(ALLOW, separators=(",", ":")))
    check_document(padded, PolicyKind.USER_INLINE)
    big = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:Get" + "x" * 3000], "Resource": "*"}],
    }
    with pytest.raises(LimitExceeded):
        check_document(json.dumps(big), PolicyKind.USER_INLINE)
    check_document(json.dumps(big), PolicyKind.MANAGED)
