from __future__ import annotations

import pytest

from iamd.core.errors import MalformedQueryString, RequestEntityTooLarge
from iamd.web.protocol.form import MAX_BODY, parse_form


def test_basic_pairs_and_percent_decoding() -> None:
    body = b"Action=CreateUser&UserName=bob&Path=%2Fa%2Fb%2F&Doc=%7B%22a%22%3A+1%7D&Plus=%2B&Space=a+b%20c"
    assert parse_form(body) == {
        "Action": "CreateUser",
        "UserName": "bob",
        "Path": "/a/b/",
        "Doc": '{"a": 1}',
        "Plus": "+",
        "Space": "a b c",
    }


def test_names_are_decoded_too() -> None:
    assert parse_form(b"Tags.member.1.Key=k&Tags%2Emember%2E1%2EValue=v") == {
        "Tags.member.1.Key": "k",
        "Tags.member.1.Value": "v",
    }


def test_empty_input_empty_pairs_and_keys_without_value() -> None:
    assert parse_form(b"") == {}
    assert parse_form("") == {}
    assert parse_form(b"&&a=1&&b&c=&") == {"a": "1", "b": "", "c": ""}
    assert parse_form(b"k=a=b") == {"k": "a=b"}


def test_utf8_values() -> None:
    assert parse_form(b"Value=%C3%A9t%C3%A9+%E6%97%A5%E6%9C%AC+%F0%9F%98%80") == {"Value": "été 日本 😀"}


def test_str_is_the_latin1_view_of_the_raw_query_string() -> None:
    raw = b"UserName=%C3%A9&Other=\xc3\xa9"  # a client that did not percent-encode
    assert parse_form(raw.decode("latin-1")) == {"UserName": "é", "Other": "é"}
    # Text that cannot be a latin-1 view is taken as text.
    assert parse_form("Value=日本") == {"Value": "日本"}


def test_lenient_on_stray_percent() -> None:
    assert parse_form(b"a=100%&b=%zz&c=%4") == {"a": "100%", "b": "%zz", "c": "%4"}


def test_control_characters_are_kept() -> None:
    assert parse_form(b"v=a%00b%01%09%0A%0D%7F") == {"v": "a\x00b\x01\t\n\r\x7f"}


def test_duplicate_parameter_is_malformed() -> None:
    with pytest.raises(MalformedQueryString) as info:
        parse_form(b"UserName=a&Path=%2F&UserName=b")
    assert info.value.code == "MalformedQueryString"
    assert info.value.status == 400
    assert "UserName" in info.value.message
    # Same name once encoded, once not: still the same parameter.
    with pytest.raises(MalformedQueryString):
        parse_form(b"UserName=a&User%4Eame=b")
    # Repeated empty markers too.
    with pytest.raises(MalformedQueryString):
        parse_form(b"Tags=&Tags=")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"UserName=%C3%28", "the value of parameter UserName"),
        (b"UserName=\xff", "the value of parameter UserName"),
        (b"User%FFName=x", "a parameter name"),
        (b"Value=%ED%A0%80", "the value of parameter Value"),  # an encoded surrogate
    ],
)
def test_invalid_utf8_is_malformed(body: bytes, where: str) -> None:
    with pytest.raises(MalformedQueryString) as info:
        parse_form(body)
    assert "invalid UTF-8" in info.value.message
    assert where in info.value.message


def test_lone_surrogate_in_text_is_malformed() -> None:
    with pytest.raises(MalformedQueryString):
        parse_form("Value=\ud800x")


def test_body_size_limit() -> None:
    exact = b"a=" + b"x" * (MAX_BODY - 2)
    assert len(parse_form(exact)["a"]) == MAX_BODY - 2
    with pytest.raises(RequestEntityTooLarge) as info:
        parse_form(exact + b"x")
    assert info.value.status == 413
    assert info.value.code == "RequestEntityTooLarge"
    with pytest.raises(RequestEntityTooLarge):
        parse_form("a=" + "x" * MAX_BODY)
    # The limit is on bytes, not characters.
    with pytest.raises(RequestEntityTooLarge):
        parse_form("a=" + "日" * (MAX_BODY // 3))


def test_accepts_bytearray_and_memoryview() -> None:
    assert parse_form(bytearray(b"a=1")) == {"a": "1"}  # type: ignore[arg-type]
    assert parse_form(memoryview(b"a=1")) == {"a": "1"}  # type: ignore[arg-type]
