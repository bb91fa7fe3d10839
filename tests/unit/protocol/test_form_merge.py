"""A POST's query-string and body parameters: one set, and a name in both is refused."""

from __future__ import annotations

import pytest

from iamd.core.errors import MalformedQueryString
from iamd.web.protocol.form import merge_params, parse_form


def test_disjoint_parameters_merge() -> None:
    query = parse_form("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab")
    body = parse_form(b"Action=GetUser&UserName=bob")
    assert merge_params(query, body) == {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Signature": "ab",
        "Action": "GetUser",
        "UserName": "bob",
    }
    assert merge_params({}, body) == body


@pytest.mark.parametrize(("query", "body"), [("UserName=a", b"UserName=b"), ("UserName=a", b"UserName=a")])
def test_a_name_in_both_is_refused(query: str, body: bytes) -> None:
    # Even with equal values: which one a reader takes must never matter.
    with pytest.raises(MalformedQueryString) as exc:
        merge_params(parse_form(query), parse_form(body + b"&Action=GetUser"))
    assert exc.value.message == "The request contains the parameter UserName more than once."
    assert exc.value.status == 400


def test_the_decoded_names_are_compared() -> None:
    with pytest.raises(MalformedQueryString, match="parameter UserName more"):
        merge_params(parse_form("User%4Eame=a"), parse_form(b"UserName=b"))
