"""The console's HTTP helpers: cookies, forms, and the headers every answer carries."""

from __future__ import annotations

from iamd.core.http import HttpRequest
from iamd.web.console.http import Reply, cookie, cookies, expired_cookie, form, json_body


def _request(headers: tuple[tuple[str, str], ...] = (), body: bytes = b"", method: str = "POST") -> HttpRequest:
    return HttpRequest(method=method, path="/console", query_string="", headers=headers, body=body)


def test_cookies_first_value_wins_and_junk_is_skipped() -> None:
    req = _request((("cookie", "a=1; b=2; junk; a=3"), ("cookie", "c=4")))
    assert cookies(req) == {"a": "1", "b": "2", "c": "4"}


def test_form_needs_the_urlencoded_content_type() -> None:
    body = b"csrf=abc&username=alice"
    assert form(_request((("content-type", "application/x-www-form-urlencoded; charset=utf-8"),), body)) == {
        "csrf": "abc",
        "username": "alice",
    }
    assert form(_request((("content-type", "text/plain"),), body)) == {}
    assert form(_request((("content-type", "application/x-www-form-urlencoded"),), body, method="GET")) == {}


def test_json_body_is_an_object_or_nothing() -> None:
    assert json_body(_request(body=b'{"name": "k"}')) == {"name": "k"}
    assert json_body(_request(body=b"[1, 2]")) == {}
    assert json_body(_request(body=b"{not json")) == {}


def test_cookies_are_httponly_strict_and_secure_over_tls() -> None:
    plain = cookie("iamd_session", "tok", secure=False)
    assert plain == "iamd_session=tok; Path=/; HttpOnly; SameSite=Strict"
    assert cookie("__Host-iamd_session", "tok", secure=True).endswith("; Secure")
    assert "Max-Age=0" in expired_cookie("iamd_session", secure=False)


def test_every_answer_carries_the_security_headers() -> None:
    status, headers, body = Reply(200, b"<p>hi</p>", set_cookies=["a=1"]).encode()
    names = dict(headers)
    assert status == 200 and body == b"<p>hi</p>"
    assert names[b"content-security-policy"].startswith(b"default-src 'none'")
    assert names[b"x-frame-options"] == b"DENY"
    assert names[b"cache-control"] == b"no-store"
    assert (b"set-cookie", b"a=1") in headers
