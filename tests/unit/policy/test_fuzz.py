"""Fuzzing the parser: whatever the input, only MalformedPolicyDocument or LimitExceeded escape."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iamd.core.errors import LimitExceeded, MalformedPolicyDocument
from iamd.policy import EvaluationRequest, PolicyKind, compile_policy, describe_principal, evaluate
from iamd.policy.document import check_document

ELEMENTS = [
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "AWS",
    "Service",
    "Federated",
    "CanonicalUser",
    "StringEquals",
    "ForAnyValue:StringLike",
    "ForAllValues:ArnLikeIfExists",
    "DateLessThan",
    "Null",
    "NullIfExists",
    "IpAddress",
    "NumericGreaterThan",
    "aws:SourceIp",
    "s3:prefix",
]
VALUES = [
    "2012-10-17",
    "2008-10-17",
    "Allow",
    "Deny",
    "allow",
    "*",
    "s3:GetObject",
    "s3:*",
    "s3",
    "a:b:c",
    "arn:aws:s3:::b/*",
    "arn:aws:iam::123456789012:user/x",
    "arn:aws:iam::123456789012:root",
    "arn:aws:sts::123456789012:assumed-role/r/s",
    "arn:aws:s3::b",
    "arn:foo:s3:::b",
    "arn:aws::::x",
    "123456789012",
    "ec2.amazonaws.com",
    "${aws:username}",
    "${*}",
    "2024-01-01T00:00:00Z",
    "1700000000",
    "10.0.0.0/8",
    "true",
    "",
]

keys = st.sampled_from(ELEMENTS) | st.text(max_size=8)
scalars = (
    st.sampled_from(VALUES)
    | st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=16)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=40,
)
statements = st.dictionaries(st.sampled_from(ELEMENTS), json_values, max_size=8)
documents = st.fixed_dictionaries(
    {"Statement": st.lists(statements, max_size=3) | statements},
    optional={"Version": st.sampled_from(VALUES) | json_values, "Id": json_values},
)


def _check_all_kinds(text: str) -> None:
    for kind in PolicyKind:
        try:
            check_document(text, kind, "entity")
        except (MalformedPolicyDocument, LimitExceeded):
            continue
        policy = compile_policy(text, kind=kind)
        principal = describe_principal("arn:aws:iam::123456789012:user/alice")
        resource_kinds = (PolicyKind.TRUST, PolicyKind.RESOURCE)
        evaluate(
            EvaluationRequest(
                principal=principal,
                action="s3:GetObject",
                resource="arn:aws:s3:::b/k",
                context={"aws:SourceIp": "10.0.0.1", "s3:prefix": ["a", "b"]},
                identity_policies=[] if kind in resource_kinds else [policy],
                resource_policy=policy if kind in resource_kinds else None,
            )
        )


@settings(max_examples=400, deadline=None)
@given(documents)
def test_policy_shaped_json(doc: dict[str, Any]) -> None:
    _check_all_kinds(json.dumps(doc))


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json(value: Any) -> None:
    _check_all_kinds(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    _check_all_kinds(text)


VALID = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "A",
                "Effect": "Allow",
                "Action": ["s3:Get*"],
                "Resource": "arn:aws:s3:::b/${aws:username}/*",
                "Condition": {"StringLike": {"s3:prefix": "a*"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ],
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 3), st.text(max_size=3)), max_size=4))
def test_mutated_documents(edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for position, remove, insert in edits:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + remove :]
    _check_all_kinds(text)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_compile_policy_from_objects(doc: dict[str, Any]) -> None:
    for kind in PolicyKind:
        try:
            compile_policy(doc, kind=kind)
        except MalformedPolicyDocument:
            continue


def test_deeply_nested_documents() -> None:
    deep = "[" * 100000 + "]" * 100000
    for kind in PolicyKind:
        with contextlib.suppress(MalformedPolicyDocument, LimitExceeded):
            check_document(deep, kind)
    nested: Any = "x"
    for _ in range(5000):
        nested = [nested]
    with contextlib.suppress(MalformedPolicyDocument):
        compile_policy({"Statement": nested})
