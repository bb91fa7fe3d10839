"""The forward-auth header contract for nginx, Traefik and Envoy."""

from __future__ import annotations

import pytest

from iamd.forward_auth import headers as h

SIGNED = [
    (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/myapp/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=ab",
    ),
    ("x-amz-date", "20260101T000000Z"),
    ("x-amz-security-token", "IQ"),
]


def test_nginx_auth_request() -> None:
    request = h.original_request(
        "GET",
        "/_iamd/forward-auth",
        "",
        [
            ("Host", "docs.example"),
            ("X-Original-Method", "delete"),
            ("X-Original-URI", "/documents/42?force=1"),
            ("X-Forwarded-For", "203.0.113.9"),
            *SIGNED,
        ],
    )
    assert (request.method, request.path, request.query, request.host) == (
        "DELETE",
        "/documents/42",
        "force=1",
        "docs.example",
    )
    assert request.headers[0] == ("host", "docs.example")
    assert dict(request.headers)["x-amz-date"] == "20260101T000000Z"
    assert "x-original-uri" not in dict(request.headers) and "x-forwarded-for" not in dict(request.headers)


def test_nginx_original_host_wins() -> None:
    request = h.original_request(
        "GET",
        "/auth",
        "",
        [
            ("host", "iamd:8080"),
            ("x-original-host", "docs.example"),
            ("x-original-method", "GET"),
            ("x-original-uri", "/"),
        ],
    )
    assert request.host == "docs.example" and request.headers[0] == ("host", "docs.example")


def test_traefik_forward_auth() -> None:
    request = h.original_request(
        "GET",
        "/_iamd/forward-auth",
        "",
        [
            ("host", "iamd"),
            ("x-forwarded-method", "PUT"),
            ("x-forwarded-uri", "/files/a%20b"),
            ("x-forwarded-host", "files.example"),
            ("x-forwarded-proto", "https"),
            *SIGNED,
        ],
    )
    assert (request.method, request.uri, request.host) == ("PUT", "/files/a%20b", "files.example")
    assert h.detect([("x-forwarded-uri", "/")]) is h.Proxy.TRAEFIK


def test_envoy_ext_authz_sends_the_request_itself() -> None:
    request = h.original_request(
        "POST",
        "/_iamd/envoy/documents/42",
        "a=1",
        [("host", "docs.example"), ("x-request-id", "abc"), ("x-envoy-internal", "true"), *SIGNED],
        envoy_prefix="/_iamd/envoy",
    )
    assert (request.method, request.uri, request.host) == ("POST", "/documents/42?a=1", "docs.example")
    assert "x-request-id" not in dict(request.headers)
    root = h.original_request("GET", "/_iamd/envoy", "", [("host", "d")], envoy_prefix="/_iamd/envoy")
    assert root.uri == "/"
    with pytest.raises(h.HeaderError, match="prefix"):
        h.original_request("GET", "/elsewhere", "", [("host", "d")], envoy_prefix="/_iamd/envoy")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("host", "x"), ("x-original-uri", "/a")], "no x-original-method"),
        ([("host", "x"), ("x-forwarded-method", "GET")], "no x-forwarded-uri"),
        ([("x-original-method", "GET"), ("x-original-uri", "/a")], "no Host"),
        ([("host", "x"), ("x-original-method", "GET"), ("x-original-uri", "http://evil/a")], "must start with /"),
    ],
)
def test_a_misconfigured_proxy_is_named(headers: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(h.HeaderError, match=message):
        h.original_request("GET", "/auth", "", headers)


def test_allow_headers_carry_every_name_and_no_control_characters() -> None:
    grant = h.Grant(
        principal_arn="arn:aws:sts::123456789012:assumed-role/Reader/s",
        account_id="123456789012",
        principal_type="AssumedRole",
        user_id="AROAX:s",
        action="myapp:GetDocument",
        resource="arn:aws:myapp:eu-west-1:123456789012:document/42",
        request_id="req-1",
        session_name="s",
        tags={"team": "a b", "evil": "x\r\nX-Iamd-Account: 999"},
    )
    out = h.allow_headers(grant)
    assert [name for name, _ in out] == list(h.RESPONSE_HEADERS)
    values = dict(out)
    assert values[h.PRINCIPAL_TAGS] == "evil=x%0D%0AX-Iamd-Account%3A%20999&team=a%20b"
    assert all("\r" not in v and "\n" not in v for v in values.values())
    assert values[h.SESSION_NAME] == "s"
    user = h.allow_headers(h.Grant("arn:aws:iam::1:user/u", "1", "IAMUser", "AIDA", "a:b", "*", "r"))
    assert dict(user)[h.SESSION_NAME] == "" and dict(user)[h.PRINCIPAL_TAGS] == ""


def test_refusal_headers() -> None:
    assert h.unauthenticated_headers("SignatureDoesNotMatch", "r1") == [
        ("WWW-Authenticate", "AWS4-HMAC-SHA256"),
        (h.ERROR, "SignatureDoesNotMatch"),
        (h.REQUEST_ID, "r1"),
    ]
    assert h.denied_headers("r2") == [(h.ERROR, "AccessDenied"), (h.REQUEST_ID, "r2")]
