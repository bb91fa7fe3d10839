"""The simulator's pure helpers: statement positions, context keys, source ids."""

from __future__ import annotations

import json

from iamd.services.iam.simulate import Span, _source_id, context_keys, statement_spans
from iamd.services.principal_policies import SourcedPolicy


def test_positions_of_a_single_statement_object() -> None:
    # the AWS CLI's documented example: start just after "{", end just after "}"
    text = (
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
        '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
    )
    assert statement_spans(text) == [Span((1, 38), (1, 167))]


def test_positions_in_a_statement_list() -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "s3", "Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject"], "Resource": ["x"]},
                {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
            ],
        }
    )
    first_end = text.index("}, {") + 2
    assert statement_spans(text) == [
        Span((1, 41), (1, first_end)),  # after "[", after the first "}"
        Span((1, first_end), (1, len(text) - 1)),  # the second starts where the first ended
    ]


def test_positions_across_lines() -> None:
    text = '{\r\n  "Version": "2012-10-17",\r\n  "Statement": [\r\n    {\r\n      "Effect": "Allow",\r\n' + (
        '      "Action": "*",\r\n      "Resource": "*"\r\n    }\r\n  ]\r\n}'
    )
    assert statement_spans(text) == [Span((3, 17), (8, 6))]
    assert statement_spans(text.replace("\r\n", "\n")) == [Span((3, 17), (8, 6))]


def test_positions_skip_strings_and_other_members() -> None:
    text = '{"Id": "a } ] \\" [", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "}"}]}'
    spans = statement_spans(text)
    assert len(spans) == 1 and spans[0] is not None
    assert spans[0].start == (1, text.index("[{") + 2)
    assert statement_spans('{"Version": "2012-10-17"}') == []
    assert statement_spans("not json") == []


def test_context_keys_in_document_order() -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/${aws:PrincipalTag/team, 'none'}"],
                    "Condition": {
                        "StringLike": {"s3:prefix": ["home/${aws:userid}/*", "${*}"]},
                        "Bool": {"aws:SecureTransport": "true"},
                    },
                }
            ],
        }
    )
    assert context_keys(text) == [
        "aws:username",
        "aws:PrincipalTag/team",
        "s3:prefix",
        "aws:userid",
        "aws:SecureTransport",
    ]


def test_variables_only_resolve_in_2012_documents() -> None:
    text = json.dumps(
        {
            "Version": "2008-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/${aws:username}",
                "Condition": {"StringEquals": {"aws:SourceVpc": "${aws:userid}"}},
            },
        }
    )
    assert context_keys(text) == ["aws:SourceVpc"]


def test_source_ids() -> None:
    assert _source_id(SourcedPolicy("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", "")) == "ViewOnlyAccess"
    assert _source_id(SourcedPolicy("user/alice/inline/S3", "")) == "user_alice_S3"
    assert _source_id(SourcedPolicy("group/devs/inline/NoDelete", "")) == "group_devs_NoDelete"
    assert _source_id(SourcedPolicy("role/app/inline/Queue", "")) == "role_app_Queue"
